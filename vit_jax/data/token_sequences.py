"""The format of a sequence-to-sequence example, shared by its datasets.

Every token dataset (reversal, dates) stores each example as two int32 token
sequences of variable length with one vocabulary per dataset whose first
three entries are the special tokens below:

  source: the input tokens x_1..x_n (no special tokens);
  target: the output tokens y_1..y_m followed by EOS.

The reading side (vit_jax/data/sources/sequence_records.py) pads both to the
longest of their split with PAD and adds their lengths.
"""

import numpy as np
import tensorflow_datasets as tfds

PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ('<pad>', '<bos>', '<eos>')


def features() -> tfds.features.FeaturesDict:
  """The tfds features of a sequence-pair example (variable lengths)."""
  return tfds.features.FeaturesDict({
      'source': tfds.features.Tensor(shape=(None,), dtype=np.int32),
      'target': tfds.features.Tensor(shape=(None,), dtype=np.int32),
  })


def with_eos(tokens) -> np.ndarray:
  """int32 [m + 1]: tokens then EOS."""
  return np.append(np.asarray(tokens, np.int32), np.int32(EOS))


def pad(sequences: list[np.ndarray], length: int) -> np.ndarray:
  """int32 [len(sequences), length]: each sequence then PADs."""
  out = np.full((len(sequences), length), PAD, np.int32)
  for row, sequence in zip(out, sequences):
    row[:len(sequence)] = sequence
  return out


def decode(tokens: np.ndarray, vocabulary: tuple[str, ...],
           separator: str = ' ') -> str:
  """Tokens up to the first EOS or PAD as text (for messages and figures)."""
  words = []
  for token in np.asarray(tokens).tolist():
    if token in (EOS, PAD):
      break
    words.append(vocabulary[token])
  return separator.join(words)
