"""tfds dataset `reversal`: integer sequences and their reversals.

The toy translation task of JoeyNMT's tutorial (integers 0-49, lengths up to
25), generated here (vit_jax/data/reversal/generator.py: no network, no
TensorFlow). Features (vit_jax/data/token_sequences): `source` the integers
as tokens, `target` them reversed then EOS; the vocabulary (53 tokens: pad,
bos, eos, '0'..'49') is in `builder.info.metadata['vocabulary']`.

Splits (sizes from SPLITS when preparing; tests shrink them): `train`
50,000 and `test` 1,000 examples of lengths 5-25; `length_A_B` 500 examples
each of lengths A..B, from 5-10 up to 46-50, for length generalisation (a
model trained on `train` has never seen a sequence longer than 25). Each
split is its own generator stream; the same version always holds the same
data. Preparing takes ~30 s on a 2-core CPU.
"""

import numpy as np
import tensorflow_datasets as tfds

from vit_jax.data import token_sequences
from vit_jax.data.digits import digits_dataset_builder
from vit_jax.data.reversal import generator

TRAIN_LENGTHS = (5, 25)
LENGTH_BUCKETS = ((5, 10), (11, 15), (16, 20), (21, 25), (26, 30), (31, 35),
                  (36, 40), (41, 45), (46, 50))
# Split -> (examples, (shortest, longest), generator stream).
SPLITS = {
    'train': (50_000, TRAIN_LENGTHS, 0),
    'test': (1_000, TRAIN_LENGTHS, 1),
    **{f'length_{lo}_{hi}': (500, (lo, hi), 2 + i)
       for i, (lo, hi) in enumerate(LENGTH_BUCKETS)},
}


class Builder(tfds.core.GeneratorBasedBuilder):
  """Reversal of integer sequences (see the module docstring)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=__doc__,
        features=token_sequences.features(),
        supervised_keys=('source', 'target'),
        metadata=tfds.core.MetadataDict(
            vocabulary=list(generator.VOCABULARY)),
        homepage='https://joeynmt.readthedocs.io/en/latest/tutorial.html',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated: nothing to download.
    return {split: self._generate_examples(*spec)
            for split, spec in SPLITS.items()}

  def _generate_examples(self, count: int, lengths: tuple[int, int],
                         seed: int):
    for i in range(count):
      source, target = generator.generate(seed, i, lengths)
      yield i, {'source': source, 'target': target}


def load_builder(data_dir: str | None = None) -> Builder:
  """Returns the prepared builder (prepared into data_dir on first use)."""
  return digits_dataset_builder.prepare_builder(Builder, data_dir)
