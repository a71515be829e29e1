"""The machine's dense-matmul throughput: the yardstick for FLOP/s figures."""

import statistics
import time

import jax
import jax.numpy as jnp


def matmul_flops_per_s(size: int = 2048, dtype=jnp.float32,
                       repeats: int = 7) -> float:
  """Median FLOP/s of a jitted [size, size] @ [size, size] matmul."""
  a = jnp.ones((size, size), dtype)
  matmul = jax.jit(jnp.dot)
  jax.block_until_ready(matmul(a, a))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a, a))
    times.append(time.perf_counter() - start)
  return 2 * size**3 / statistics.median(times)
