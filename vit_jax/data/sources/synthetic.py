"""`dataset='synthetic'`: learnable random images that are stored nowhere.

Example `i` of a split is a pure function of (seed, split, i): its label is
drawn from a Philox generator keyed by those three numbers, and its image is
the label's class template plus uniform noise from the same generator. The
class templates depend only on `seed` (shared by train and test, so what is
learnt on train transfers to test): a `grid x grid` block pattern of random
grey levels in [64, 192] per channel, upsampled to the image size (nearest
neighbour). The noise is uniform in [-32, 31] per pixel, so no clipping.

Used for benchmarks and for configs whose tfds data is not prepared
(config.dataset_fallback='synthetic'). Sizes, channels and seed come from
config.synthetic, the classes from config.num_classes.
"""

import dataclasses

import numpy as np

from vit_jax.data.sources import base
from vit_jax.data.sources import image_records
from vit_jax.data.sources import registry

_SPLIT_IDS = {'train': 0, 'test': 1}


class SyntheticSource:
  """`len()` and `[i]` -> {'image': uint8 [H, W, C], 'label': int}.

  Attributes:
    image_shape: (H, W, C) of every image.
    num_classes: labels are uniform in [0, num_classes).
  """

  def __init__(self, *, num_examples: int, image_shape: tuple[int, int, int],
               num_classes: int, seed: int = 0, split: str = 'train',
               grid: int = 4):
    """Initializes the source.

    Args:
      num_examples: length of the source.
      image_shape: (H, W, C) of the generated images.
      num_classes: number of classes (and templates).
      seed: identity of the data set; the same seed gives the same templates
        and examples.
      split: 'train' or 'test': an independent example stream per split.
      grid: blocks per side of the class templates.
    """
    if split not in _SPLIT_IDS:
      raise ValueError(f'synthetic split must be one of {list(_SPLIT_IDS)}, '
                       f'got {split!r}')
    height, width, channels = image_shape
    self.image_shape = (int(height), int(width), int(channels))
    self.num_classes = int(num_classes)
    self._num_examples = int(num_examples)
    self._seed = int(seed)
    self._split_id = _SPLIT_IDS[split]
    rng = np.random.default_rng([self._seed, 0x5EED])
    # [num_classes, grid, grid, C], minus the noise offset 32; a few KB even
    # for 1000 classes (full-resolution ones would be 150 MB at 224x224x3).
    self._templates = rng.integers(
        64 - 32, 193 - 32, (num_classes, grid, grid, channels), dtype=np.uint8)
    # Pixels per block row / column (sizes need not divide by grid).
    self._row_repeats = np.bincount(np.arange(height) * grid // height)
    self._col_repeats = np.bincount(np.arange(width) * grid // width)

  def __len__(self) -> int:
    return self._num_examples

  def __getitem__(self, index: int) -> dict[str, np.ndarray | int]:
    index = int(index)
    if not 0 <= index < self._num_examples:
      raise IndexError(f'index {index} out of range [0, {self._num_examples})')
    key = np.array([self._seed, (self._split_id << 62) | index], np.uint64)
    rng = np.random.Generator(np.random.Philox(key=key))
    label = int(rng.integers(self.num_classes))
    image = np.repeat(np.repeat(self._templates[label], self._row_repeats, 0),
                      self._col_repeats, 1)  # [H, W, C]
    # Uniform in [0, 63]: the top 6 bits of raw Philox output, 3-4x faster
    # than rng.integers at 224x224x3.
    size = image.size
    noise = rng.bit_generator.random_raw(-(-size // 8)).view(np.uint8)[:size]
    image += (noise >> 2).reshape(image.shape)  # <= 160 + 63: no overflow.
    return {'image': image, 'label': label}

  def __getitems__(self, indices) -> list[dict[str, np.ndarray | int]]:
    return [self[i] for i in indices]


@dataclasses.dataclass(frozen=True)
class SyntheticSettings:
  """Attributes: image: see image_records.ImageSettings; the others:
  config.synthetic's fields and config.num_classes."""
  image: image_records.ImageSettings
  num_train: int
  num_test: int
  channels: int
  seed: int
  num_classes: int | None


@registry.register
class Synthetic(base.SourceKind):
  """The dataset 'synthetic': its train and test splits."""

  names = ('synthetic',)

  def settings(self, config) -> SyntheticSettings:
    return SyntheticSettings(
        image=image_records.ImageSettings.of(config),
        num_train=config.synthetic.num_train,
        num_test=config.synthetic.num_test,
        channels=config.synthetic.channels, seed=config.synthetic.seed,
        num_classes=config.num_classes)

  def open(self, dataset: str, split: str, *, role: str | None,
           settings: SyntheticSettings) -> base.Source:
    if role is None:
      raise ValueError(f'synthetic data has only the train and test splits, '
                       f'not {split!r}')
    if settings.num_classes is None:
      raise ValueError('synthetic data needs config.num_classes')
    size = settings.image.size
    records = SyntheticSource(
        num_examples=settings.num_test if role == 'test' else
        settings.num_train, image_shape=(size, size, settings.channels),
        num_classes=settings.num_classes, seed=settings.seed, split=role)
    return image_records.ImageRecords(
        records, name=f'{dataset}[{split}]',
        class_names=[str(i) for i in range(settings.num_classes)],
        channels=settings.channels, settings=settings.image, encoded=False)
