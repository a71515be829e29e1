r"""Writes a PNG grid of Pathfinder samples: one row per label and image size.

  .venv/bin/python experiments/pathfinder_samples.py /tmp/pathfinder.png

Rows: 32x32 connected, 32x32 disconnected, then 64 and 128 likewise; each
tile is shown at 128x128 (nearest-neighbour upscaling, so 32x32 pixels stay
visible). Images come from `vit_jax.data.pathfinder.generator` (the test
split's stream by default), so this shows exactly what the dataset holds.
Takes about a second.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image
from PIL import ImageDraw

# Importable when run as a script from anywhere.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vit_jax.data.pathfinder import generator  # noqa: E402

_TILE = 128  # Displayed size of every image.
_GAP = 4
_LABEL_WIDTH = 150


def grid(per_row: int, seed: int) -> Image.Image:
  """The sample grid as a greyscale PIL image."""
  rows = []
  for size in generator.SIZES:
    # Labels alternate with the index: take the first per_row of each.
    images, labels = generator.generate(size, seed, np.arange(2 * per_row))
    for label in (1, 0):
      chosen = images[labels == label, ..., 0]
      tiles = [np.kron(image, np.ones((_TILE // size,) * 2, np.uint8))
               for image in chosen]
      caption = (f'{size}x{size}\n'
                 f'{"connected (1)" if label else "disconnected (0)"}')
      rows.append((caption, tiles))
  width = _LABEL_WIDTH + per_row * (_TILE + _GAP)
  height = len(rows) * (_TILE + _GAP)
  canvas = Image.new('L', (width, height), 90)
  draw = ImageDraw.Draw(canvas)
  for r, (caption, tiles) in enumerate(rows):
    top = r * (_TILE + _GAP)
    draw.multiline_text((8, top + _TILE // 2 - 12), caption, fill=255)
    for c, tile in enumerate(tiles):
      canvas.paste(Image.fromarray(tile), (_LABEL_WIDTH + c * (_TILE + _GAP),
                                           top))
  return canvas


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('output', help='PNG file to write')
  parser.add_argument('--per_row', type=int, default=6,
                      help='images per row (default 6)')
  parser.add_argument('--seed', type=int, default=1,
                      help='generator stream (default 1, the test split)')
  args = parser.parse_args()
  grid(args.per_row, args.seed).save(args.output)
  print(f'wrote {args.output}')


if __name__ == '__main__':
  main()
