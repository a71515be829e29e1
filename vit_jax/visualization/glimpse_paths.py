"""Glimpse paths of a recurrent attention model, drawn on its images (PNG).

Each glimpse t is drawn as its finest retina box (solid) and its widest box
(dotted), coloured by order (dark to bright), with its number at the centre
and a line joining the centres in order.
"""

import matplotlib
from matplotlib import figure
from matplotlib import patches as mpatches
import numpy as np

from vit_jax.models import glimpse


def boxes(location: np.ndarray, image_shape, size: int,
          num_scales: int) -> list[tuple[float, float, int]]:
  """(left, top, side) in imshow coordinates of each scale's box at one
  location [2]; pixel (r, c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5]."""
  centre = np.asarray(glimpse.centre_pixel(np.clip(location, -1, 1),
                                           image_shape))
  out = []
  for side in glimpse.patch_sides(size, num_scales):
    top, left = centre - side // 2
    out.append((left - 0.5, top - 0.5, side))
  return out


def draw(images: np.ndarray, locations: np.ndarray, path: str, *,
         glimpse_size: int, num_scales: int, labels=None, predictions=None,
         columns: int = 4) -> None:
  """Writes one panel per image with its glimpse path to `path` (PNG).

  Args:
    images: [b, H, W, C] (C = 1 shown in grey, 3 in colour), any range.
    locations: [b, T, 2] in [-1, 1], the model's `locations` output.
    path: the PNG file.
    glimpse_size, num_scales: the model's retina.
    labels, predictions: optional [b] ints for the panel titles.
    columns: panels per row.
  """
  b, steps = locations.shape[:2]
  assert images.shape[0] == b, (images.shape, locations.shape)
  rows = -(-b // columns)
  # A bare Figure (no pyplot): no display, no global state.
  fig = figure.Figure(figsize=(2.6 * columns, 2.8 * rows))
  axes = fig.subplots(rows, columns, squeeze=False)
  colours = matplotlib.colormaps['plasma'](np.linspace(0.0, 0.85, steps))
  for i, ax in enumerate(axes.flat):
    ax.axis('off')
    if i >= b:
      continue
    image = images[i]
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap='gray',
              interpolation='nearest')
    centres = []
    for t in range(steps):
      scale_boxes = boxes(locations[i, t], image.shape, glimpse_size,
                          num_scales)
      for s, (left, top, side) in enumerate((scale_boxes[0],
                                             scale_boxes[-1])):
        ax.add_patch(mpatches.Rectangle(
            (left, top), side, side, fill=False, edgecolor=colours[t],
            linewidth=1.6 if s == 0 else 0.8,
            linestyle='-' if s == 0 else ':'))
      left, top, side = scale_boxes[0]
      centres.append((left + side / 2, top + side / 2))
      ax.text(*centres[-1], str(t + 1), color=colours[t], fontsize=8,
              ha='center', va='center', fontweight='bold')
    ax.plot(*np.array(centres).T, color='white', linewidth=0.6, alpha=0.7)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    title = []
    if labels is not None:
      title.append(f'label {int(labels[i])}')
    if predictions is not None:
      title.append(f'predicted {int(predictions[i])}')
    ax.set_title(', '.join(title), fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
