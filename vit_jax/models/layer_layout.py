"""The two layouts of an encoder's blocks, and conversion between them.

loop: one subtree per block, `encoderblock_0`, `encoderblock_1`, ... (VT's
      published layout; `model.scan_layers=False`).
scan: one subtree `encoderblock` whose arrays carry a leading layer axis
      (big_vision's layout; `model.scan_layers=True`, one `nn.scan`).

Both functions take any nested mapping of arrays (parameters, optimizer
moments, a loaded weight file) and convert every encoder in it: a mapping that
holds `encoderblock_{i}` keys (or `encoderblock`) is rewritten, everything else
(the shared Linformer projection, `encoder_norm`, ...) is kept as it is.
"""

import re
from typing import Any, Mapping

import jax
import numpy as np

LOOP_KEY = re.compile(r'^encoderblock_(\d+)$')
SCAN_KEY = 'encoderblock'


def is_scanned(tree: Mapping[str, Any]) -> bool:
  """True if any encoder in `tree` is in the scan layout."""
  return any(key == SCAN_KEY or (isinstance(value, Mapping)
                                 and is_scanned(value))
             for key, value in tree.items())


def to_scan(tree: Mapping[str, Any]) -> dict[str, Any]:
  """loop -> scan: stacks `encoderblock_{i}` into `encoderblock` [layers, ...]."""
  out, blocks = {}, {}
  for key, value in tree.items():
    match = LOOP_KEY.match(key)
    if match:
      blocks[int(match.group(1))] = value
    elif isinstance(value, Mapping):
      out[key] = to_scan(value)
    else:
      out[key] = value
  if blocks:
    if SCAN_KEY in out:
      raise ValueError(f'both {SCAN_KEY!r} and {SCAN_KEY}_{{i}} keys found')
    if sorted(blocks) != list(range(len(blocks))):
      raise ValueError(f'encoder blocks are not numbered 0..{len(blocks) - 1}:'
                       f' found {sorted(blocks)}')
    layers = [blocks[i] for i in range(len(blocks))]
    out[SCAN_KEY] = jax.tree.map(lambda *xs: _stack(xs), *layers)
  return out


def to_loop(tree: Mapping[str, Any]) -> dict[str, Any]:
  """scan -> loop: splits `encoderblock` [layers, ...] into `encoderblock_{i}`."""
  out = {}
  for key, value in tree.items():
    if key == SCAN_KEY:
      leaves = jax.tree.leaves(value)
      depths = {leaf.shape[0] if np.ndim(leaf) else None for leaf in leaves}
      if len(depths) != 1 or None in depths:
        raise ValueError(f'{SCAN_KEY!r} arrays must share one leading layer '
                         f'axis; found leading sizes {sorted(map(str, depths))}')
      (depth,) = depths
      for i in range(depth):
        out[f'{SCAN_KEY}_{i}'] = jax.tree.map(lambda x, i=i: x[i], value)
    elif isinstance(value, Mapping):
      out[key] = to_loop(value)
    else:
      out[key] = value
  return out


def to_layout(tree: Mapping[str, Any], scanned: bool) -> dict[str, Any]:
  """`tree` in the scan layout if `scanned`, else in the loop layout."""
  return to_scan(to_loop(tree)) if scanned else to_loop(tree)


def _stack(arrays):
  """Stacks NumPy arrays with NumPy (host), JAX arrays with JAX."""
  if all(isinstance(x, np.ndarray) for x in arrays):
    return np.stack(arrays)
  return jax.numpy.stack(arrays)
