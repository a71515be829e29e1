"""tfds dataset `dates`: dates in many human formats -> ISO 8601.

Generated from Python's `datetime` (vit_jax/data/dates/generator.py lists
the 13 formats; no network, no TensorFlow). Features
(vit_jax/data/token_sequences): `source` the written date and `target` its
ISO form then EOS, one token per character; the vocabulary (pad, bos, eos,
letters, digits, ' ,./-': 70 tokens) is in
`builder.info.metadata['vocabulary']`.

Splits (sizes from SPLITS when preparing; tests shrink them): `train` 50,000
examples of the non-test dates, `test` 1,000 examples of the held-out dates
(one in ten of 1950-2049, chosen by hash), so test dates never occur in
training. Each split is its own generator stream; the same version always
holds the same data. Preparing takes ~30 s on a 2-core CPU.
"""

import tensorflow_datasets as tfds

from vit_jax.data import token_sequences
from vit_jax.data.dates import generator
from vit_jax.data.digits import digits_dataset_builder

# Split -> (examples, held-out dates?, generator stream).
SPLITS = {'train': (50_000, False, 0), 'test': (1_000, True, 1)}


class Builder(tfds.core.GeneratorBasedBuilder):
  """Date normalisation (see the module docstring)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=__doc__,
        features=token_sequences.features(),
        supervised_keys=('source', 'target'),
        metadata=tfds.core.MetadataDict(
            vocabulary=list(generator.VOCABULARY)),
        homepage='https://docs.python.org/3/library/datetime.html',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated: nothing to download.
    return {split: self._generate_examples(count, held_out, seed)
            for split, (count, held_out, seed) in SPLITS.items()}

  def _generate_examples(self, count: int, held_out: bool, seed: int):
    ordinals = generator.dates(held_out)
    for i in range(count):
      source, target = generator.generate(seed, i, ordinals)
      yield i, {'source': source, 'target': target}


def load_builder(data_dir: str | None = None) -> Builder:
  """Returns the prepared builder (prepared into data_dir on first use)."""
  return digits_dataset_builder.prepare_builder(Builder, data_dir)
