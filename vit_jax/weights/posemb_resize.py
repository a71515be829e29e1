"""Resizing a learned position embedding to another patch grid.

VT's "high-resolution fine-tuning": the prefix rows (the cls token's, if any)
are kept, the grid rows are read as an image [gh, gw, D] and resized
bilinearly to the new grid, corner rows onto corner rows (scipy.ndimage.zoom
with order=1, as VT and big_vision do), so that a checkpoint trained at one
image size fine-tunes at another. Grids need not be square.
"""

import math

import numpy as np
import scipy.ndimage


def square_grid(num_rows: int) -> tuple[int, int]:
  """(g, g) for num_rows = g * g.

  Raises:
    ValueError: num_rows is not a square.
  """
  side = math.isqrt(num_rows)
  if side * side != num_rows:
    raise ValueError(f'{num_rows} position rows are not a square grid; '
                     'give the grid of the weights explicitly')
  return side, side


def resize_grid(grid: np.ndarray, new_grid: tuple[int, int]) -> np.ndarray:
  """Bilinear resize of [gh, gw, ...] rows to [new_gh, new_gw, ...].

  Corner rows map onto corner rows; an unchanged size returns the grid as
  it is, bit for bit.
  """
  gh, gw = grid.shape[:2]
  if (gh, gw) == tuple(new_grid):
    return grid
  zoom = (new_grid[0] / gh, new_grid[1] / gw) + (1,) * (grid.ndim - 2)
  out = scipy.ndimage.zoom(grid.astype(np.float64), zoom, order=1,
                           mode='nearest', grid_mode=False)
  assert out.shape[:2] == tuple(new_grid), (out.shape, new_grid)
  return out.astype(grid.dtype)


def resize(posemb: np.ndarray, *, old_prefix: int, new_prefix: int,
           new_grid: tuple[int, int],
           old_grid: tuple[int, int] | None = None) -> np.ndarray:
  """[1, old_prefix + gh * gw, D] -> [1, new_prefix + new_gh * new_gw, D].

  Args:
    posemb: the loaded table.
    old_prefix: rows before the grid in `posemb` (1 with a cls token, else 0).
    new_prefix: rows before the grid wanted. A prefix row that is dropped is
      lost; one that is added is zero (what big_vision's cls token gets).
    new_grid: (rows, cols) of the new patch grid.
    old_grid: (rows, cols) of the loaded grid; default: square.

  Raises:
    ValueError: the table's shape does not fit `old_prefix` and `old_grid`.
  """
  if posemb.ndim != 3 or posemb.shape[0] != 1:
    raise ValueError(f'position embedding of shape {posemb.shape}: expected '
                     '[1, rows, width]')
  prefix, rows = posemb[:, :old_prefix], posemb[0, old_prefix:]
  old_grid = old_grid or square_grid(rows.shape[0])
  if old_grid[0] * old_grid[1] != rows.shape[0]:
    raise ValueError(f'{rows.shape[0]} position rows do not form a '
                     f'{old_grid[0]}x{old_grid[1]} grid')
  grid = resize_grid(rows.reshape(*old_grid, -1), new_grid)
  if new_prefix <= old_prefix:
    prefix = prefix[:, :new_prefix]
  else:
    prefix = np.concatenate([prefix, np.zeros(
        (1, new_prefix - old_prefix, posemb.shape[-1]), posemb.dtype)], 1)
  return np.concatenate([prefix, grid.reshape(1, -1, posemb.shape[-1])], 1)
