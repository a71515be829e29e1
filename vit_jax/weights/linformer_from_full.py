"""Full attention -> Linformer, and Linformer of one max_length -> another.

A Linformer block has the full block's parameters (query, key, value, out:
same names, same shapes) plus its sequence maps E and F (`key_projection`,
`value_projection`, `kv_projection`, or the encoder's `shared_attention`;
kernels [(heads,) max_length, k]). So a full-attention checkpoint loads
into a Linformer model with every shared weight kept and E/F at their fresh
initialisation (`adapt` does that: they are the only keys the file lacks).

From a Linformer checkpoint whose max_length differs (another image size),
E/F are resized along the sequence axis the way position embeddings are:
the sequence is prefix tokens (cls) + a patch grid, the grid rows are
resized bilinearly on the grid (posemb_resize), and scaled by
old_grid_rows / new_grid_rows, since E·K sums over the grid rows: the
projected keys and values keep their scale.
"""

import re

import numpy as np

from vit_jax.weights import posemb_resize

# '/'-joined paths of Linformer's sequence-map kernels.
SEQUENCE_KERNEL = re.compile(
    r'(.*/)?(key_projection|value_projection|kv_projection|shared_attention)'
    r'/kernel$')


def is_sequence_kernel(path: str) -> bool:
  return SEQUENCE_KERNEL.match(path) is not None


def resize_sequence_kernel(kernel: np.ndarray, *, new_length: int,
                           prefix: int, new_grid: tuple[int, int],
                           old_grid: tuple[int, int] | None = None
                           ) -> np.ndarray:
  """[(heads,) old_length, k] -> [(heads,) new_length, k].

  Args:
    kernel: a loaded E or F kernel; its sequence axis is -2.
    new_length: the new max_length (prefix + new grid rows).
    prefix: tokens before the patches (1 with a cls token), in both.
    new_grid: the new patch grid.
    old_grid: the loaded grid; default square.

  Raises:
    ValueError: the lengths do not fit prefix + grid.
  """
  if new_length != prefix + new_grid[0] * new_grid[1]:
    raise ValueError(f'max_length {new_length} != {prefix} prefix token(s) + '
                     f'{new_grid[0]}x{new_grid[1]} patches')
  rows = np.moveaxis(kernel, -2, 0)  # [old_length, (heads,) k]
  grid_rows = rows.shape[0] - prefix
  old_grid = old_grid or posemb_resize.square_grid(grid_rows)
  if old_grid[0] * old_grid[1] != grid_rows:
    raise ValueError(f'{grid_rows} sequence rows do not form a '
                     f'{old_grid[0]}x{old_grid[1]} grid')
  grid = posemb_resize.resize_grid(
      rows[prefix:].reshape(*old_grid, *rows.shape[1:]), new_grid)
  scale = grid_rows / (new_grid[0] * new_grid[1])
  grid = (grid * scale).astype(kernel.dtype).reshape(-1, *rows.shape[1:])
  return np.moveaxis(np.concatenate([rows[:prefix], grid], 0), 0, -2)
