"""Counter-based random numbers in NumPy: splitmix64 hashes of uint64 keys.

A number drawn here is a pure function of its key (seed, step, example index,
stream, ...), not the next output of a sequential RNG, so any example's
numbers can be drawn alone, in any batch, and stay bit-identical. The image
ops (vit_jax/data/ops/preprocess.py: per-example seeds and uniforms) and the
Pathfinder generator (vit_jax/data/pathfinder/generator.py) draw theirs here.

uint64 arithmetic wraps on purpose; callers that add or multiply uint64 values
themselves do so under `np.errstate(over='ignore')`.
"""

import numpy as np

U64 = np.uint64
# 2**64 / the golden ratio: splitmix64's increment between counters.
GOLDEN = U64(0x9E3779B97F4A7C15)


def mix(x):
  """splitmix64 finaliser: a bijective, well-mixed hash of uint64 values."""
  with np.errstate(over='ignore'):
    x = (x ^ (x >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> U64(27))) * U64(0x94D049BB133111EB)
    return x ^ (x >> U64(31))


def uniforms(keys: np.ndarray, count: int) -> np.ndarray:
  """`count` uniform numbers in [0, 1) per key, a pure function of the key.

  Args:
    keys: uint64 [b], already mixed (one stream each).
    count: numbers per key.

  Returns:
    float64 [b, count]: the top 53 bits of mix(key + j * GOLDEN), j = 1..count.
  """
  with np.errstate(over='ignore'):
    counters = np.arange(1, count + 1, dtype=U64) * GOLDEN
    bits = mix(keys[:, None] + counters[None])  # [b, count]
  return (bits >> U64(11)).astype(np.float64) * 2.0**-53
