"""MLP block (3200x128 -> 512 -> 128) fwd+bwd: flax nn.Dense vs a custom-VJP
matmul that transposes the smaller operand for the weight gradient."""
import statistics, time, functools
import jax, jax.numpy as jnp, numpy as np
import flax.linen as nn

B, N, D, M = 64, 50, 128, 512


@jax.custom_vjp
def matmul(x, w):
  return x @ w

def _fwd(x, w):
  return x @ w, (x, w)

def _bwd(res, g):
  x, w = res
  dx = g @ w.T
  K, Nn = w.shape
  if K <= Nn:  # transpose x [M, K] (smaller than g [M, N])
    xt = jax.lax.optimization_barrier(x.T)
    dw = xt @ g
  else:
    gt = jax.lax.optimization_barrier(g.T)
    dw = jax.lax.optimization_barrier(gt @ x).T
  return dx, dw

matmul.defvjp(_fwd, _bwd)


@jax.custom_vjp
def matmul_nobar(x, w):
  return x @ w

def _bwd2(res, g):
  x, w = res
  dx = g @ w.T
  K, Nn = w.shape
  if K <= Nn:
    dw = x.T @ g
  else:
    dw = (g.T @ x).T
  return dx, dw

matmul_nobar.defvjp(_fwd, _bwd2)


def mlp(params, x, mm):
  h = mm(x.reshape(-1, D), params['w0']) + params['b0']
  h = jax.nn.gelu(h)
  y = mm(h, params['w1']) + params['b1']
  return y.reshape(x.shape)


VARIANTS = dict(base=lambda a, b: a @ b, custom=matmul, nobar=matmul_nobar)
params = dict(w0=jax.random.normal(jax.random.key(0), (D, M)) * 0.05,
              b0=jnp.zeros(M), w1=jax.random.normal(jax.random.key(1), (M, D)) * 0.05,
              b1=jnp.zeros(D))
x = jax.random.normal(jax.random.key(2), (B, N, D))
wgt = jax.random.normal(jax.random.key(3), (B, N, D))
runs = {}
ref = None
for name, mm in VARIANTS.items():
  f = jax.jit(jax.grad(lambda p, x, mm=mm: jnp.sum(mlp(p, x, mm) * wgt), argnums=(0, 1)))
  c = f.lower(params, x).compile()
  out = c(params, x)
  if ref is None:
    ref = out
  for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
    np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-4)
  runs[name] = (c, [], [])
  h = c.as_text(); e = h[h.find('ENTRY'):]
  print(name, [l.split('=')[1].split('(')[0].strip()[:60] + ' ' + l.split(' = ')[0].strip() for l in e.splitlines() if ' dot(' in l or 'ynn_fusion' in l.split(' = ')[0]])
for r in range(30):
  for name, (c, wall, cpu) in runs.items():
    w0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(c(params, x))
    wall.append(time.perf_counter() - w0); cpu.append(time.process_time() - c0)
bc = statistics.median(runs['base'][2])
for name, (c, wall, cpu) in runs.items():
  print(f'{name:>8}: wall median {statistics.median(wall) * 1e3:6.2f} ms min '
        f'{min(wall) * 1e3:6.2f}, cpu median {statistics.median(cpu) * 1e3:6.2f}'
        f' ms, cpu vs base {bc / statistics.median(cpu):.2f}x')
