"""Forward-only patch embedding variants (224², patch 32, batch 64)."""
import statistics, time, sys
import jax, jax.numpy as jnp, numpy as np
sys.argv = sys.argv[:1]
src = open(__file__.replace('patch_fwd_micro', 'patch_micro')).read().split('images = jax.random')[0]
exec(src)

def p_conv(images, kernel):
  return jax.lax.conv_general_dilated(images, kernel, (P, P), 'VALID',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

def p_twostep(images, kernel):
  """Swap axes on [b*7, 32, 7, 96] via reshape to 2-D blocks."""
  x = images.reshape(B * G, P, G, P * C)
  x = jnp.swapaxes(x, 1, 2).reshape(B, G, G, P * P * C)
  return x @ kernel.reshape(P * P * C, D)

VARIANTS.update(conv=p_conv, twostep=p_twostep)
images = jax.random.normal(jax.random.key(0), (B, S, S, C))
kernel = jax.random.normal(jax.random.key(1), (P, P, C, D)) * 0.02
want = p_base(images, kernel)
runs = {}
for name, fn in VARIANTS.items():
  f = jax.jit(fn)
  np.testing.assert_allclose(f(images, kernel), want, atol=1e-3, rtol=1e-3)
  c = f.lower(images, kernel).compile()
  jax.block_until_ready(c(images, kernel))
  runs[name] = (c, [], [])
for r in range(20):
  for name, (c, wall, cpu) in runs.items():
    w0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(c(images, kernel))
    wall.append(time.perf_counter() - w0); cpu.append(time.process_time() - c0)
bw = statistics.median(runs['base'][1])
for name, (c, wall, cpu) in runs.items():
  print(f'{name:>8}: wall median {statistics.median(wall) * 1e3:6.1f} ms min '
        f'{min(wall) * 1e3:6.1f}, cpu median {statistics.median(cpu) * 1e3:6.1f}'
        f' ms, wall vs base {bw / statistics.median(wall):.2f}x')
