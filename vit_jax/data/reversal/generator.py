"""Reversal of integer sequences: the source x_1..x_n, the target x_n..x_1.

Integers 0..NUM_SYMBOLS-1 are tokens 3.. (after vit_jax/data/token_sequences'
special tokens); lengths are uniform in a split's range. Example i of a
stream is a pure function of (stream seed, i) (NumPy's PCG64 seeded with
[seed, i]), so any example can be drawn alone, bit-identically.
"""

import numpy as np

from vit_jax.data import token_sequences

NUM_SYMBOLS = 50
VOCABULARY = token_sequences.SPECIAL_TOKENS + tuple(
    str(i) for i in range(NUM_SYMBOLS))
_FIRST = len(token_sequences.SPECIAL_TOKENS)


def generate(seed: int, index: int, lengths: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray]:
  """Example `index` of stream `seed`: (source int32 [n], target int32 [n+1]).

  Args:
    seed: the stream (one per split).
    index: the example's index in the stream.
    lengths: (shortest, longest) n, both included.
  """
  rng = np.random.default_rng([seed, index])
  n = int(rng.integers(lengths[0], lengths[1] + 1))
  source = (rng.integers(0, NUM_SYMBOLS, n) + _FIRST).astype(np.int32)
  return source, token_sequences.with_eos(source[::-1])
