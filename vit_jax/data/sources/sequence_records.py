"""Token-sequence pairs of a prepared tfds split as a `Source`.

For datasets in the format of vit_jax/data/token_sequences (reversal, dates):
variable-length int32 `source` and `target` per example. The split is read
whole when opened (these datasets are small: 50,000 examples are ~10 MB) and
padded with PAD to its longest source and target, so every batch of a split
has one shape (a jit compilation per split) and a short split is not padded
to a long one's length.

Features: `source` int32 [S], `source_length` int32, `target` int32 [T],
`target_length` int32 (EOS included); `class_names` is the vocabulary
(token i is class_names[i]), so config.num_classes is the vocabulary size.
"""

import numpy as np

from vit_jax.data import token_sequences
from vit_jax.data.sources import base

_CHUNK = 4096  # Records per read when opening.


class SequenceRecords(base.Source):
  """A whole split of sequence pairs, padded, in memory."""

  def __init__(self, records, *, name: str, vocabulary: list[str]):
    """Reads `records` (len() and __getitems__(list) -> dicts) whole."""
    self.name = name
    self.class_names = list(vocabulary)
    sources, targets = [], []
    for start in range(0, len(records), _CHUNK):
      for record in records.__getitems__(
          list(range(start, min(start + _CHUNK, len(records))))):
        sources.append(np.asarray(record['source'], np.int32))
        targets.append(np.asarray(record['target'], np.int32))
    self._arrays = {}
    for key, sequences in (('source', sources), ('target', targets)):
      lengths = np.array([len(s) for s in sequences], np.int32)
      longest = int(lengths.max()) if len(lengths) else 1
      self._arrays[key] = token_sequences.pad(sequences, longest)
      self._arrays[f'{key}_length'] = lengths
    self.features = {k: base.Feature(v.shape[1:], v.dtype)
                     for k, v in self._arrays.items()}

  def __len__(self) -> int:
    return len(self._arrays['source'])

  def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[indices] for k, v in self._arrays.items()}


def open_builder_split(builder, dataset: str, split: str) -> SequenceRecords:
  """Split `split` of a prepared sequence-pair tfds builder.

  Raises:
    ValueError: the builder has no such split.
  """
  try:
    records = builder.as_data_source(split, file_format='array_record')
  except (KeyError, ValueError) as e:
    raise ValueError(f'cannot read split {split!r} of {dataset!r} (splits: '
                     f'{list(builder.info.splits)}): {e}') from e
  return SequenceRecords(records, name=f'{dataset}[{split}]',
                         vocabulary=builder.info.metadata['vocabulary'])
