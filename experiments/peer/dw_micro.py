"""Weight-gradient matmul dW = X^T G (contraction over the 3200 rows): forms."""
import statistics, time
import jax, jax.numpy as jnp, numpy as np
bar = jax.lax.optimization_barrier

def forms(M, K, N):
  x = jax.random.normal(jax.random.key(0), (M, K))
  g = jax.random.normal(jax.random.key(1), (M, N))
  fs = {
    'plain x.T@g': lambda x, g: x.T @ g,
    'bar(x.T)@g': lambda x, g: bar(x.T) @ g,
    'bar(g.T@x).T': lambda x, g: bar(g.T @ x).T,
    'bar(bar(g.T)@x).T': lambda x, g: bar(bar(g.T) @ x).T,
  }
  return x, g, fs

for M, K, N in [(3200, 128, 512), (3200, 512, 128), (3200, 128, 128), (3136, 3072, 128)]:
  x, g, fs = forms(M, K, N)
  want = x.T @ g
  runs = {}
  for name, f in fs.items():
    c = jax.jit(f).lower(x, g).compile()
    np.testing.assert_allclose(c(x, g), want, rtol=1e-3, atol=1e-2)
    h = c.as_text(); e = h[h.find('ENTRY'):]
    kinds = [l.split(' = ')[0].strip().lstrip('%').split('.')[0] for l in e.splitlines()[1:] if ' = ' in l and 'parameter(' not in l]
    runs[name] = (c, [], kinds)
  for r in range(25):
    for name, (c, cpu, _) in runs.items():
      c0 = time.process_time(); jax.block_until_ready(c(x, g)); cpu.append(time.process_time() - c0)
  for name, (c, cpu, kinds) in runs.items():
    t = statistics.median(cpu)
    print(f'{M}x{K}x{N} {name:>20}: cpu {t * 1e3:6.2f} ms = {2 * M * K * N / t / 1e9:6.1f} GFLOP/cpu-s  {kinds}')
