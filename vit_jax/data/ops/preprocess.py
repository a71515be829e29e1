"""Composable preprocessing ops on batches of images, in NumPy/PIL.

Every op has the signature `op(images, seeds) -> images`: `images` is a uint8
array [b, H, W, C] or, before `resize`, a sequence of b arrays of any size;
`seeds` is uint64 [b], one seed per example, used by random ops and ignored
(may be None) by the others. Bind parameters with `functools.partial`; a
pipeline is a list of ops run by `apply`. This module holds the basic ops,
image decoding (`decode_image`, per example: the input pipeline names or
skips corrupt ones) and the per-example random numbers (`uniform`); crops and
flips are in `spatial`, RandAugment in `randaugment`, and `op_lists` maps the
names configs use to ops.

Ops work on whole batches rather than single examples because the trainer pulls
~50 batches/s of 128 small images: per-example Python calls would dominate.
"""

import io
import os
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from vit_jax.data import counter_hash

Images = np.ndarray | Sequence[np.ndarray]
Op = Callable[[Images, np.ndarray], Images]

_U64 = np.uint64


def example_seeds(seed: int, step: int, positions: np.ndarray) -> np.ndarray:
  """Per-example seeds, a pure function of (seed, step, position).

  Args:
    seed: the experiment seed.
    step: the global step (or any other stream id).
    positions: int [b], the example positions inside the global batch.

  Returns:
    uint64 [b].
  """
  with np.errstate(over='ignore'):  # uint64 arithmetic wraps on purpose.
    h = np.full(positions.shape, seed, _U64) + counter_hash.GOLDEN
    h = counter_hash.mix(counter_hash.mix(h) ^ _U64(step & 0xFFFFFFFFFFFFFFFF))
    return counter_hash.mix(h ^ positions.astype(_U64))


def uniform(seeds: np.ndarray, salt: int, count: int) -> np.ndarray:
  """`count` uniform numbers in [0, 1) per example, a pure function of its seed.

  Args:
    seeds: uint64 [b].
    salt: separates the streams of different ops (each op has its own).
    count: numbers per example.

  Returns:
    float64 [b, count].
  """
  keys = counter_hash.mix(np.asarray(seeds, _U64) ^ _U64(salt))  # [b]
  return counter_hash.uniforms(keys, count)


def decode_image(image: np.ndarray | bytes | str, *, channels: int,
                 min_size: int | None = None) -> np.ndarray:
  """One encoded image (bytes or a file path) -> uint8 [H, W, channels].

  Arrays pass through with grey <-> colour fixed up. PIL converts every mode
  (palette, CMYK, RGBA, 16-bit grey) to 'L'/'RGB'; tfds's own NumPy decoder
  (`Image.decode_example_np` with PIL) returns such modes unconverted.

  Args:
    image: encoded bytes (any format PIL reads), a path to such a file, or an
      array [H, W] or [H, W, c].
    channels: 1 or 3 (arrays: any).
    min_size: if set, JPEGs are decoded at the smallest DCT scale (1/2, 1/4,
      1/8) that keeps both sides >= min_size, which is several times faster
      for large photos resized to a small image_size.

  Returns:
    uint8 [H, W, channels].

  Raises:
    OSError, ValueError (or another PIL error): unreadable, truncated or not
    an image. The input pipeline names the example and raises or skips it.
  """
  if isinstance(image, (bytes, np.bytes_, memoryview, str, os.PathLike)):
    # Looked up here: arrays may have any channel count (synthetic.channels).
    mode = {1: 'L', 3: 'RGB'}[channels]
    if not isinstance(image, (str, os.PathLike)):
      image = io.BytesIO(image)
    with Image.open(image) as pil:
      if min_size:
        pil.draft(mode, (min_size, min_size))
      image = np.asarray(pil.convert(mode))  # Truncated files raise here.
  return _fix_channels(np.asarray(image), channels)


def _fix_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """[H, W] or [H, W, c] -> [H, W, channels]."""
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[-1] == channels:
    return image
  if image.shape[-1] == 1:
    return np.repeat(image, channels, axis=-1)
  if channels == 1:  # Colour -> grey, ITU-R 601-2 luma like PIL's 'L'.
    grey = image[..., :3].astype(np.float32) @ np.float32([0.299, 0.587,
                                                           0.114])
    return np.round(grey).astype(np.uint8)[..., None]
  return image[..., :channels]  # RGBA -> RGB.


def resize(images: Images, seeds: np.ndarray, *, size: int) -> np.ndarray:
  """Resizes every image to [size, size] (bilinear, antialiased by PIL).

  Args:
    images: b uint8 arrays [H_i, W_i, C] (sizes may differ) or [b, H, W, C].
    seeds: unused.
    size: output height and width.

  Returns:
    uint8 [b, size, size, C].
  """
  del seeds
  if isinstance(images, np.ndarray) and images.shape[1:3] == (size, size):
    return images
  out = []
  for image in images:
    if image.shape[:2] != (size, size):
      image = resize_image(image, size)
    out.append(image)
  return np.stack(out)


def resize_image(image: np.ndarray, size: int,
                 box: tuple[float, float, float, float] | None = None
                 ) -> np.ndarray:
  """uint8 [H, W, C] (or its region `box`) -> [size, size, C], bilinear.

  Args:
    image: uint8 [H, W, C].
    size: output height and width.
    box: optional (left, top, right, bottom) in pixels, fractional allowed:
      the region to resize (a crop without an extra copy).

  Returns:
    uint8 [size, size, C].
  """
  if image.shape[-1] in (1, 3):
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR,
                                box=box))
    return out.reshape(size, size, image.shape[-1])
  # Other channel counts (e.g. RGBA, which PIL would premultiply): per channel.
  return np.stack([resize_image(image[..., c:c + 1], size, box)[..., 0]
                   for c in range(image.shape[-1])], axis=-1)


def random_shift(images: np.ndarray, seeds: np.ndarray, *,
                 pixels: int) -> np.ndarray:
  """Shifts each image by up to `pixels` in x and y, filling with zeros.

  Pad-and-random-crop: zero-pad by `pixels` on every side, then crop the
  original size at an offset drawn from the example's seed.

  Args:
    images: [b, H, W, C].
    seeds: uint64 [b].
    pixels: maximum shift; 0 returns `images` unchanged.

  Returns:
    [b, H, W, C], same dtype.
  """
  if pixels == 0:
    return images
  b, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)))
  bits = counter_hash.mix(seeds ^ _U64(0xA5A5A5A5A5A5A5A5))
  span = _U64(2 * pixels + 1)
  dy = ((bits >> _U64(32)) % span).astype(np.intp)  # [b] in [0, 2 * pixels]
  dx = ((bits & _U64(0xFFFFFFFF)) % span).astype(np.intp)
  out = np.empty_like(images)
  # A slice per example: ~14x faster than one fancy-index gather at 224x224.
  for i in range(b):
    out[i] = padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
  return out


def to_float(images: np.ndarray, seeds: np.ndarray,
             value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
  """uint8 [0, 255] -> float32 in value_range (default [-1, 1]), same shape."""
  del seeds
  low, high = value_range
  if (low, high) == (-1.0, 1.0):
    out = np.subtract(images, np.float32(127.5), dtype=np.float32)
    out /= np.float32(127.5)  # In place; 0 and 255 map exactly to -1 and 1.
    return out
  out = np.multiply(images, np.float32((high - low) / 255), dtype=np.float32)
  out += np.float32(low)
  return out


def apply(ops: Sequence[Op], images: Images, seeds: np.ndarray) -> Images:
  """Runs `ops` in order."""
  for op in ops:
    images = op(images, seeds)
  return images
