"""Attention maps overlaid on their images, in a grid of panels (PNG)."""

from matplotlib import figure
import numpy as np


def _show_image(ax, image: np.ndarray) -> None:
  image = (image - image.min()) / max(float(np.ptp(image)), 1e-12)
  ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap='gray',
            interpolation='nearest')


def draw(images: np.ndarray, maps: dict[str, np.ndarray], path: str, *,
         titles=None, note: str = '') -> None:
  """One column per image: the image, then each map upsampled over it.

  Args:
    images: [b, H, W, C], any range (shown min-max scaled).
    maps: name -> [b, rows, cols], each shown stretched over the image
      (nearest: one block per patch) and min-max scaled per image.
    path: the PNG file.
    titles: optional [b] strings for the first column.
    note: a line under the figure (e.g. that a map is a heuristic).
  """
  b, h, w = images.shape[:3]
  rows = 1 + len(maps)
  # A bare Figure (no pyplot): no display, no global state.
  fig = figure.Figure(figsize=(2.1 * b, 2.2 * rows))
  axes = fig.subplots(rows, b, squeeze=False)
  axes = axes.T  # axes[image, panel]
  for i in range(b):
    _show_image(axes[i, 0], images[i])
    axes[i, 0].set_title(titles[i] if titles is not None else 'image',
                         fontsize=8)
    for j, (name, values) in enumerate(maps.items(), start=1):
      ax = axes[i, j]
      _show_image(ax, images[i])
      heat = values[i]
      heat = (heat - heat.min()) / max(float(np.ptp(heat)), 1e-12)
      ax.imshow(heat, cmap='inferno', alpha=0.6, interpolation='nearest',
                extent=(-0.5, w - 0.5, h - 0.5, -0.5))
      ax.set_title(name, fontsize=8)
  for ax in axes.flat:
    ax.axis('off')
  if note:
    fig.text(0.5, 0.005, note, ha='center', va='bottom', fontsize=7)
  fig.tight_layout(rect=(0, 0.02 if note else 0, 1, 1))
  fig.savefig(path, dpi=110)
