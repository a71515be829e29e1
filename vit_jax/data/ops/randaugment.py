"""RandAugment (Cubuk et al., 2020) as a batch op, with PIL.

Each example gets `num_layers` transformations drawn uniformly (with
replacement) from the 14 below, each at the same `magnitude` on the paper's
0-10 scale; geometric and enhancement ops take a random sign. Choices come
from the example's seed, so a batch is a pure function of its seeds.
Magnitude 10 means: rotate 30 degrees, shear 0.3, translate 45% of the side,
enhance (colour, contrast, brightness, sharpness) by a factor 1 +- 0.9,
posterize to 4 bits, solarize above 0 (inverts everything).
"""

from typing import Callable

import numpy as np
from PIL import Image
from PIL import ImageEnhance
from PIL import ImageOps

from vit_jax.data.ops import preprocess

_SALT = 0x4A4D0A06
_FILL = 128  # Grey for pixels uncovered by rotations, shears, translations.


def _affine(image: Image.Image, matrix: tuple[float, ...]) -> Image.Image:
  """Output pixel (x, y) samples the input at matrix @ (x, y, 1)."""
  fill = _FILL if image.mode == 'L' else (_FILL,) * 3
  return image.transform(image.size, Image.Transform.AFFINE, matrix,
                         resample=Image.Resampling.BILINEAR, fillcolor=fill)


def _rotate(image, m):
  fill = _FILL if image.mode == 'L' else (_FILL,) * 3
  return image.rotate(30 * m, resample=Image.Resampling.BILINEAR,
                      fillcolor=fill)


def _shear_x(image, m):
  s = 0.3 * m  # About the centre row, so the image does not drift sideways.
  return _affine(image, (1, s, -s * image.height / 2, 0, 1, 0))


def _shear_y(image, m):
  s = 0.3 * m
  return _affine(image, (1, 0, 0, s, 1, -s * image.width / 2))


def _translate_x(image, m):
  return _affine(image, (1, 0, 0.45 * m * image.width, 0, 1, 0))


def _translate_y(image, m):
  return _affine(image, (1, 0, 0, 0, 1, 0.45 * m * image.height))


def _enhance(enhancer) -> Callable[[Image.Image, float], Image.Image]:
  return lambda image, m: enhancer(image).enhance(1 + 0.9 * m)


# name -> (function(image, signed magnitude in [-1, 1]), takes a sign).
_OPS: dict[str, tuple[Callable[[Image.Image, float], Image.Image], bool]] = {
    'identity': (lambda image, m: image, False),
    'autocontrast': (lambda image, m: ImageOps.autocontrast(image), False),
    'equalize': (lambda image, m: ImageOps.equalize(image), False),
    'rotate': (_rotate, True),
    'solarize': (lambda image, m: ImageOps.solarize(
        image, round(256 - 256 * m)), False),
    'color': (_enhance(ImageEnhance.Color), True),
    'posterize': (lambda image, m: ImageOps.posterize(
        image, 8 - round(4 * m)), False),
    'contrast': (_enhance(ImageEnhance.Contrast), True),
    'brightness': (_enhance(ImageEnhance.Brightness), True),
    'sharpness': (_enhance(ImageEnhance.Sharpness), True),
    'shear_x': (_shear_x, True),
    'shear_y': (_shear_y, True),
    'translate_x': (_translate_x, True),
    'translate_y': (_translate_y, True),
}
OP_NAMES = tuple(_OPS)


def randaugment(images: np.ndarray, seeds: np.ndarray, *, num_layers: int,
                magnitude: float) -> np.ndarray:
  """Applies `num_layers` random transformations to each image.

  Args:
    images: uint8 [b, H, W, C] with C = 1 or 3.
    seeds: uint64 [b].
    num_layers: transformations per image (the paper's N).
    magnitude: strength on the 0-10 scale (the paper's M).

  Returns:
    uint8 [b, H, W, C], a new array.
  """
  if images.shape[-1] not in (1, 3):
    raise ValueError(f'randaugment needs 1 or 3 channels, got '
                     f'{images.shape[-1]}')
  if not 0 <= magnitude <= 10:
    raise ValueError(f'randaugment magnitude must be in [0, 10], got '
                     f'{magnitude}')
  u = preprocess.uniform(seeds, _SALT, 2 * num_layers).reshape(
      len(images), num_layers, 2)  # [b, layers, (which op, sign)]
  which = (u[..., 0] * len(OP_NAMES)).astype(int)
  sign = np.where(u[..., 1] < 0.5, -1.0, 1.0)
  out = np.empty_like(images)
  for i, image in enumerate(images):
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    for layer in range(num_layers):
      op, signed = _OPS[OP_NAMES[which[i, layer]]]
      pil = op(pil, magnitude / 10 * (sign[i, layer] if signed else 1.0))
    out[i] = np.asarray(pil).reshape(image.shape)
  return out
