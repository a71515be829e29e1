"""Spatial batch ops: random resized crop, center crop, horizontal flip.

Same contract as `preprocess`: `op(images, seeds) -> images` on uint8
[b, H, W, C] batches, randomness drawn per example from its seed, so a batch
is a pure function of its seeds.
"""

import math

import numpy as np

from vit_jax.data.ops import preprocess

# Each random op draws from its own stream of per-example numbers.
_CROP_SALT = 0x5C0FFEE1
_FLIP_SALT = 0xF11F11F1
# Crop boxes drawn per example before falling back to the whole image: a draw
# fails only when its box is wider or taller than the image.
_CROP_TRIES = 10


def random_resized_crop(images: np.ndarray, seeds: np.ndarray, *, size: int,
                        scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)
                        ) -> np.ndarray:
  """Crops a random box of each image and resizes it to [size, size].

  The box covers a fraction of the image area drawn uniformly from `scale`,
  with an aspect ratio (width / height) drawn log-uniformly from `ratio`; the
  first of 10 draws that fits the image is used, else the whole image.

  Args:
    images: uint8 [b, H, W, C].
    seeds: uint64 [b].
    size: output height and width.
    scale: range of the box's fraction of the image area.
    ratio: range of the box's width / height.

  Returns:
    uint8 [b, size, size, C].
  """
  b, height, width, _ = images.shape
  u = preprocess.uniform(seeds, _CROP_SALT, 4 * _CROP_TRIES).reshape(
      b, _CROP_TRIES, 4)  # [b, tries, (area, ratio, x, y)]
  area = height * width * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
  log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
  aspect = np.exp(log_lo + (log_hi - log_lo) * u[..., 1])
  box_w = np.round(np.sqrt(area * aspect))  # [b, tries]
  box_h = np.round(np.sqrt(area / aspect))
  fits = (box_w >= 1) & (box_w <= width) & (box_h >= 1) & (box_h <= height)
  out = np.empty((b, size, size, images.shape[-1]), np.uint8)
  for i in range(b):
    tries = np.flatnonzero(fits[i])
    if len(tries):
      t = tries[0]
      w, h = box_w[i, t], box_h[i, t]
      left = np.floor(u[i, t, 2] * (width - w + 1))
      top = np.floor(u[i, t, 3] * (height - h + 1))
      box = (left, top, left + w, top + h)
    else:
      box = (0, 0, width, height)
    out[i] = preprocess.resize_image(images[i], size, tuple(map(float, box)))
  return out


def center_crop(images: np.ndarray, seeds: np.ndarray, *,
                size: int) -> np.ndarray:
  """The central [size, size] window of each image (identity if that size).

  Args:
    images: uint8 [b, H, W, C] with H, W >= size.
    seeds: unused.
    size: output height and width.

  Returns:
    uint8 [b, size, size, C].
  """
  del seeds
  _, height, width, _ = images.shape
  if (height, width) == (size, size):
    return images
  if height < size or width < size:
    raise ValueError(f'center_crop to {size}x{size} of smaller images '
                     f'({height}x{width}); set config.input.resize_size >= '
                     'image_size')
  top, left = (height - size) // 2, (width - size) // 2
  return images[:, top:top + size, left:left + size]


def flip_lr(images: np.ndarray, seeds: np.ndarray) -> np.ndarray:
  """Mirrors each image left-right with probability 1/2.

  Args:
    images: [b, H, W, C].
    seeds: uint64 [b].

  Returns:
    [b, H, W, C], a new array.
  """
  flip = preprocess.uniform(seeds, _FLIP_SALT, 1)[:, 0] < 0.5  # [b]
  out = images.copy()
  out[flip] = images[flip, :, ::-1]
  return out
