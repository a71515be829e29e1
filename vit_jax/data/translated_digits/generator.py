"""Translated and cluttered digits: sklearn's 8x8 digits on a large canvas.

The data of "Recurrent Models of Visual Attention" (Mnih et al. 2014, section
4.1) with scikit-learn's 1,797 bundled 8x8 digits in place of MNIST, so it is
generated offline in about a second:

  translated: the digit, upsampled 3x to 24x24 (bilinear), pasted at a
    uniformly random place of a black 60x60 canvas;
  cluttered: the same, plus `NUM_CLUTTER` random 8x8 crops of other digits of
    the same split (upsampled the same way) pasted at random places below it
    (pixel-wise maximum), as the paper's 8x8 MNIST fragments.

Each example is a pure function of (kind, seed, split indices, example
index): `generate` draws it from `np.random.default_rng([seed, index])`.
Pixel values are uint8 0..255 (white ink on black).
"""

import numpy as np
from scipy import ndimage

CANVAS = 60
UPSAMPLE = 3  # 8x8 -> 24x24, close to MNIST's 20x20 ink box in 28x28.
DIGIT = 8 * UPSAMPLE
NUM_CLUTTER = 4
CLUTTER = 8  # Side of a clutter fragment (paper: 8x8 of 28x28 MNIST).
KINDS = ('translated', 'cluttered')


def upsample(images: np.ndarray) -> np.ndarray:
  """uint8 [n, 8, 8] -> uint8 [n, 24, 24], bilinear (order-1 spline)."""
  out = ndimage.zoom(images.astype(np.float32), (1, UPSAMPLE, UPSAMPLE),
                     order=1, mode='nearest', grid_mode=True)
  return np.clip(np.round(out), 0, 255).astype(np.uint8)


def generate(kind: str, digits: np.ndarray, pool: np.ndarray, seed: int,
             index: int) -> np.ndarray:
  """One canvas: uint8 [CANVAS, CANVAS].

  Args:
    kind: one of KINDS.
    digits: uint8 [n, DIGIT, DIGIT], the upsampled digits of the split.
    pool: indices into `digits` of this split's examples (clutter is cut
      from them, never from the digit itself).
    seed: the split's stream.
    index: the example: position of its digit in `pool`, plus copies *
      len(pool) for further placements of the same digit.
  """
  if kind not in KINDS:
    raise ValueError(f'unknown kind {kind!r}; known: {KINDS}')
  rng = np.random.default_rng([seed, index])
  own = pool[index % len(pool)]
  canvas = np.zeros((CANVAS, CANVAS), np.uint8)
  if kind == 'cluttered':
    for _ in range(NUM_CLUTTER):
      other = own
      while other == own:
        other = pool[rng.integers(len(pool))]
      y, x = rng.integers(0, DIGIT - CLUTTER + 1, size=2)
      piece = digits[other, y:y + CLUTTER, x:x + CLUTTER]
      _paste_max(canvas, piece, rng.integers(0, CANVAS - CLUTTER + 1, size=2))
  _paste_max(canvas, digits[own], rng.integers(0, CANVAS - DIGIT + 1, size=2))
  return canvas


def _paste_max(canvas: np.ndarray, piece: np.ndarray, corner) -> None:
  y, x = corner
  h, w = piece.shape
  np.maximum(canvas[y:y + h, x:x + w], piece, out=canvas[y:y + h, x:x + w])
