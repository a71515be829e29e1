"""Labelled image records as a `Source`: decoded and resized to R x R.

The image kinds (tfds, local builders, folders, synthetic) each provide a
record reader -- `len()`, `[i]` and `__getitems__(indices)` giving dicts with
an image (encoded bytes, a file path or an array of any size) and an int
label -- and wrap it in `ImageRecords`, which decodes (any PIL mode becomes
grey or RGB), resizes to the stored size R = input.resize_size (default
image_size) and turns corrupt images into one-line errors.

Corrupt images: an image that cannot be read or decoded raises a
CorruptImageError naming it (its path, or dataset[split] and index). With
`config.input.skip_corrupt=True` example i is instead replaced by the next
example i+1, i+2, ... (wrapping) that decodes, and logged once with the
running count. The replacement depends only on the data, so batches stay a
pure function of (config, step); files are not checked up front, as that
would mean decoding a whole folder before the first step. In eval the
replacement is counted in place of the corrupt example.
"""

import dataclasses
import functools
import threading

from absl import logging
import numpy as np

from vit_jax.data.ops import preprocess
from vit_jax.data.sources import base
from vit_jax.errors import CorruptImageError


@dataclasses.dataclass(frozen=True)
class ImageSettings:
  """The config fields every image kind reads.

  Attributes:
    size: R, the stored (and cached) height and width.
    skip_corrupt: replace corrupt images instead of raising.
  """
  size: int
  skip_corrupt: bool

  @classmethod
  def of(cls, config) -> 'ImageSettings':
    return cls(size=config.input.resize_size or config.image_size,
               skip_corrupt=config.input.skip_corrupt)


class ImageRecords(base.Source):
  """Features 'image' (uint8 [R, R, C]) and 'label' (int32) of a record
  reader's examples."""

  def __init__(self, records, *, name: str, class_names: list[str],
               channels: int, settings: ImageSettings,
               image_key: str = 'image', label_key: str = 'label',
               encoded: bool = True):
    """Wraps a record reader.

    Args:
      records: `len()`, `[i]` and `__getitems__(list)` -> dicts; optionally
        `describe(i)` naming example i in messages (e.g. its path).
      name: 'dataset[split]'.
      class_names: label i is class_names[i].
      channels: C of the stored images (any mode of an encoded image is
        converted to it, 1 or 3; arrays are grey <-> colour converted).
      settings: stored size and corrupt-image handling.
      image_key: the records' image field.
      label_key: the records' label field.
      encoded: images are files or bytes: JPEGs are then decoded at reduced
        scale when that keeps both sides >= R, several times faster for
        large photos.
    """
    self._records = records
    self.name = name
    self.class_names = class_names
    self._size = settings.size
    self.features = {
        'image': base.Feature((settings.size, settings.size, channels),
                              np.dtype(np.uint8), image=True),
        'label': base.Feature((), np.dtype(np.int32)),
    }
    self._image_key = image_key
    self._label_key = label_key
    self._decode = functools.partial(
        preprocess.decode_image, channels=channels,
        min_size=settings.size if encoded else None)
    self._skip_corrupt = settings.skip_corrupt
    self._corrupt: set[int] = set()  # Indices found corrupt so far.
    self._corrupt_lock = threading.Lock()

  def __len__(self) -> int:
    return len(self._records)

  def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    if not len(indices):
      return {k: np.zeros((0, *f.shape), f.dtype)
              for k, f in self.features.items()}
    records = self._records.__getitems__(indices.tolist())
    decoded = [self._decoded(int(i), r) for i, r in zip(indices, records)]
    images = preprocess.resize([image for image, _ in decoded], None,
                               size=self._size)
    labels = np.array([label for _, label in decoded], np.int32)
    return {'image': images, 'label': labels}

  def _decoded(self, index: int, record) -> tuple[np.ndarray, int]:
    """Example `index` (its record given) decoded: (uint8 [H, W, C], label).

    A corrupt image raises, or with skip_corrupt is replaced by the next
    example that decodes (see the module docstring).
    """
    for offset in range(len(self)):
      candidate = (index + offset) % len(self)
      if offset:
        record = self._records[candidate]
      try:
        return self._decode(record[self._image_key]), record[self._label_key]
      except Exception as e:  # pylint: disable=broad-except
        # PIL raises OSError, ValueError, SyntaxError, ... for bad files.
        what = self._describe(candidate)
        if not self._skip_corrupt:
          raise CorruptImageError(
              f'cannot decode image {what}: {type(e).__name__}: {e} (set '
              'config.input.skip_corrupt=True to skip such images)') from e
        with self._corrupt_lock:
          new = candidate not in self._corrupt
          self._corrupt.add(candidate)
          count = len(self._corrupt)
        if new:
          logging.warning(
              'Skipping corrupt image %s (%s: %s); %d corrupt image(s) '
              'skipped in %s so far.', what, type(e).__name__, e, count,
              self.name)
    raise CorruptImageError(f'no image of {self.name} can be decoded '
                            '(every one is corrupt); nothing to train on')

  def _describe(self, index: int) -> str:
    if hasattr(self._records, 'describe'):
      return self._records.describe(index)
    return f'{self.name} example {index}'
