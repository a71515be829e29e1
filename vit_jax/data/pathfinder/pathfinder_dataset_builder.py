"""tfds dataset `pathfinder`: synthetic Pathfinder images, one config per size.

A long-range spatial task (Linsley et al. 2018, "Learning long-range spatial
dependencies with horizontal gated recurrent units"; the Pathfinder task of
the Long Range Arena): grey images with dashed curved paths and two dots;
label 1 if the dots are joined by a path, 0 if not. Drawn by
`vit_jax/data/pathfinder/generator.py` (pure NumPy, no network, no
TensorFlow), which documents the images and their difficulty per size.

Configs (tfds names 'pathfinder/32', 'pathfinder/64', 'pathfinder/128'):

  config  image       train    test
  32      32x32x1    20,000   2,000
  64      64x64x1    10,000   1,000
  128     128x128x1   5,000     500

Preparing a config takes ~0.5 min on a 2-core CPU (up to twice as long when
the cores are contended) and stores ~10-15 MB. Measured figures:
docs/results.md.

Features:
  image: uint8 (S, S, 1), white ink on black.
  label: ClassLabel(names=['disconnected', 'connected']); exactly half of
    every split (even sizes) is connected.

Example i of a split is `generator.generate(S, SEEDS[split], [i])`, keyed by
i (tfds stores each split in its own deterministic hash order of the keys):
the same version always holds byte-identical data. Split sizes come from
SPLIT_SIZES when the data is prepared (tests shrink them); change them, the
seeds or the generator only together with VERSION.

The data is written as array_record and read with `builder.as_data_source()`,
which needs no TensorFlow. Use `load_builder()`, which prepares on first use;
in an experiment config set dataset = 'pathfinder/32' (or /64, /128) and
num_classes = 2: the input pipeline prepares it into data_dir on first use and
resizes to image_size.
"""

import numpy as np
import tensorflow_datasets as tfds

from vit_jax.data.digits import digits_dataset_builder
from vit_jax.data.pathfinder import generator

# Examples per split and config, read when preparing.
SPLIT_SIZES = {
    '32': {'train': 20_000, 'test': 2_000},
    '64': {'train': 10_000, 'test': 1_000},
    '128': {'train': 5_000, 'test': 500},
}
# Generator stream of each split (the streams are disjoint).
SEEDS = {'train': 0, 'test': 1}
# Examples generated at a time while preparing.
_CHUNK = 1024


class Builder(tfds.core.GeneratorBasedBuilder):
  """Pathfinder images of one size (config '32', '64' or '128')."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name=str(size),
          description=f'{size}x{size} images; see generator.PARAMS[{size}].')
      for size in generator.SIZES
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    size = int(self.builder_config.name)
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(size, size, 1),
                                          dtype=np.uint8),
            'label': tfds.features.ClassLabel(
                names=['disconnected', 'connected']),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://arxiv.org/abs/1805.08315',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated: nothing to download.
    name = self.builder_config.name
    return {split: self._generate_examples(int(name), SEEDS[split], count)
            for split, count in SPLIT_SIZES[name].items()}

  def _generate_examples(self, size: int, seed: int, count: int):
    for start in range(0, count, _CHUNK):
      indices = np.arange(start, min(start + _CHUNK, count))
      images, labels = generator.generate(size, seed, indices)
      for index, image, label in zip(indices, images, labels):
        yield int(index), {'image': image, 'label': int(label)}


def load_builder(size: int | str, data_dir: str | None = None) -> Builder:
  """Returns the builder of config `size`, preparing the data if missing.

  Args:
    size: 32, 64 or 128.
    data_dir: tfds data_dir; default $TFDS_DATA_DIR, else ~/tensorflow_datasets.

  Returns:
    A prepared Builder; read it with `builder.as_data_source(split)`.
  """
  return digits_dataset_builder.prepare_builder(Builder, data_dir,
                                                config=str(size))
