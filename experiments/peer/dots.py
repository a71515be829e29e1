"""GFLOP/s of the train step's matmul shapes under the current XLA_FLAGS."""
import statistics, time, sys
import jax, jax.numpy as jnp

SHAPES = [  # (name, m, k, n, transpose_a)
  ('qkv 3200x128x128', 3200, 128, 128, False),
  ('qkv fused 3200x128x384', 3200, 128, 384, False),
  ('mlp1 3200x128x512', 3200, 128, 512, False),
  ('mlp2 3200x512x128', 3200, 512, 128, False),
  ('dW 128x3200x128 (Xt dY)', 128, 3200, 128, True),
  ('dW 512x3200x128', 512, 3200, 128, True),
  ('patch 3136x3072x128', 3136, 3072, 128, False),
  ('patch dW 3072x3136x128', 3072, 3136, 128, True),
  ('square 2048', 2048, 2048, 2048, False),
]

def bench(m, k, n, ta, reps=40):
  a = jnp.ones((k, m) if ta else (m, k), jnp.float32) * 0.01
  b = jnp.ones((k, n), jnp.float32) * 0.01
  f = jax.jit(lambda a, b: (a.T if ta else a) @ b)
  jax.block_until_ready(f(a, b))
  ts = []
  for _ in range(reps):
    t = time.perf_counter(); jax.block_until_ready(f(a, b)); ts.append(time.perf_counter() - t)
  return 2 * m * k * n / min(ts) / 1e9, min(ts) * 1e3

for name, m, k, n, ta in SHAPES:
  g, ms = bench(m, k, n, ta)
  print(f'{name:28} {ms:7.2f} ms {g:6.1f} GFLOP/s', flush=True)
