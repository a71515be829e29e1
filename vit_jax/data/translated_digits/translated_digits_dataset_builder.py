"""tfds dataset `translated_digits`: 60x60 translated or cluttered digits.

The task of Mnih et al. 2014 (section 4.1) on scikit-learn's 8x8 digits
instead of MNIST (see generator): configs 'translated_digits/translated'
(a 24x24 digit at a random place of a 60x60 canvas) and
'translated_digits/cluttered' (plus 4 random 8x8 fragments of other digits).

Splits: the digits dataset's fixed split (vit_jax/data/digits: 1,437 train /
360 test digits, checked by its index hash), each digit placed COPIES[split]
times (different places and clutter): train 11,496, test 1,080 examples. No
test digit appears in train, not even as clutter. Preparing takes a few
seconds and stores ~45 MB per config.

Features: image uint8 (60, 60, 1); label ClassLabel(num_classes=10).
Example keys are the example indices; the same version always holds
byte-identical data. Use `load_builder(kind)`, which prepares on first use;
in an experiment config set dataset='translated_digits/translated' (or
/cluttered), image_size=60, num_classes=10.
"""

import hashlib

import numpy as np
import tensorflow_datasets as tfds

from vit_jax.data.digits import digits_dataset_builder
from vit_jax.data.translated_digits import generator

# Placements of each digit per split; read when preparing (tests shrink it).
COPIES = {'train': 8, 'test': 3}
SEEDS = {'train': 0, 'test': 1}  # Disjoint generator streams.


def split_indices() -> dict[str, np.ndarray]:
  """The digits dataset's train/test indices into `load_digits()`."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top
  labels = datasets.load_digits().target
  train, test = model_selection.train_test_split(
      np.arange(len(labels)), test_size=digits_dataset_builder.NUM_TEST,
      stratify=labels, random_state=0)
  digest = hashlib.sha256(np.sort(test).astype('<i8').tobytes()).hexdigest()
  # The same check as the digits builder: the same test digits, or fail.
  if digest != digits_dataset_builder.TEST_INDICES_SHA256:
    raise RuntimeError('scikit-learn chose a different digits test split '
                       'than the fixed one; pin scikit-learn or bump VERSION.')
  return {'train': np.sort(train), 'test': np.sort(test)}


class Builder(tfds.core.GeneratorBasedBuilder):
  """Digits on a 60x60 canvas; config 'translated' or 'cluttered'."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name=kind, description=f'{kind} digits; see '
                              'vit_jax/data/translated_digits/generator.py')
      for kind in generator.KINDS
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    side = generator.CANVAS
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(side, side, 1),
                                          dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://arxiv.org/abs/1406.6247',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Bundled with scikit-learn: nothing to download.
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    digits = datasets.load_digits()
    # [1797, 24, 24] uint8 0..255, as the digits builder scales them.
    images = generator.upsample(
        np.round(digits.images * (255 / 16)).astype(np.uint8))
    return {split: self._generate_examples(images, digits.target, pool,
                                           SEEDS[split], COPIES[split])
            for split, pool in split_indices().items()}

  def _generate_examples(self, images, labels, pool, seed: int, copies: int):
    kind = self.builder_config.name
    for index in range(len(pool) * copies):
      canvas = generator.generate(kind, images, pool, seed, index)
      yield index, {'image': canvas[..., None],
                    'label': int(labels[pool[index % len(pool)]])}


def load_builder(kind: str, data_dir: str | None = None) -> Builder:
  """Returns the builder of config `kind`, preparing the data if missing.

  Args:
    kind: 'translated' or 'cluttered'.
    data_dir: tfds data_dir; default $TFDS_DATA_DIR, else ~/tensorflow_datasets.
  """
  return digits_dataset_builder.prepare_builder(Builder, data_dir,
                                                config=kind)
