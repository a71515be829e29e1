"""Fitting loaded weights to the model of a new config.

Given the loaded tree (VT's names, vt_npz.read or another run) and the new
model's freshly initialised parameters, every parameter of the new model is
taken from the file, except:

  head           kept if its shape fits (same class count), else fresh;
  pre_logits     dropped if the new model has none (representation_size
                 None), fresh if the file has none or another width;
  pos_embedding  resized to the new patch grid (posemb_resize), the cls row
                 dropped or added as the new model has a cls token or not;
  E/F of Linformer  fresh if the file has none (a full-attention file),
                 resized along the sequence if the file's max_length differs
                 (linformer_from_full);
  init_skip      regexes of '/'-joined paths (`re.fullmatch`) left fresh.

Anything else that does not fit -- a shape, a key the file lacks, a key the
model lacks -- raises one ConfigError line naming the key, the shape found
and the shape expected. Loop and scan layouts (models/layer_layout) load into
either.
"""

import dataclasses
import re
from typing import Any, Mapping, Sequence

import numpy as np

from vit_jax.errors import ConfigError
from vit_jax.models import layer_layout
from vit_jax.weights import linformer_from_full
from vit_jax.weights import posemb_resize
from vit_jax.weights import vt_npz

POSEMB = '/'.join(vt_npz.POSEMB_PATH)
HEAD = re.compile(r'head/(kernel|bias)$')
PRE_LOGITS = re.compile(r'pre_logits/(kernel|bias)$')


@dataclasses.dataclass(frozen=True)
class Target:
  """What adaptation needs to know about the new model.

  Attributes:
    fresh: its freshly initialised parameters (nested; any layer layout).
    grid: (rows, cols) of its patch grid; None: square, from its table.
  """
  fresh: Mapping[str, Any]
  grid: tuple[int, int] | None = None


def _shape(x) -> str:
  return str(tuple(np.shape(x)))


def adapt(loaded: Mapping[str, Any], target: Target, *, source: str,
          skip: Sequence[str] = (), source_grid: tuple[int, int] | None = None
          ) -> tuple[dict[str, Any], list[str]]:
  """The new model's parameters from `loaded` (see the module docstring).

  Args:
    loaded: the loaded tree, VT's names, either layer layout.
    target: the new model.
    source: names the weights in messages (a path).
    skip: regexes of paths left freshly initialised.
    source_grid: the loaded patch grid if known (default: square).

  Returns:
    (parameters as NumPy arrays in the layout of `target.fresh`, notes: one
    line per adaptation made).

  Raises:
    ConfigError: `init_from SOURCE: KEY: ...` for the first key that does
      not fit.
  """
  scanned = layer_layout.is_scanned(target.fresh)
  try:
    old = vt_npz.flatten(layer_layout.to_loop(loaded))
  except ValueError as e:
    raise ConfigError(f'init_from {source}: {e}') from None
  new = vt_npz.flatten(layer_layout.to_loop(target.fresh))
  try:
    patterns = [re.compile(p) for p in skip]
  except re.error as e:
    raise ConfigError(f'config.init_skip: bad regex: {e}') from None
  old_prefix = int('cls' in old)
  new_prefix = int('cls' in new)
  out, notes, fresh_keys = {}, [], []

  def fail(key: str, what: str):
    raise ConfigError(f'init_from {source}: {key}: {what}')

  for key, init in new.items():
    if any(p.fullmatch(key) for p in patterns):
      fresh_keys.append(key)
      out[key] = init
      continue
    if key not in old:
      if linformer_from_full.is_sequence_kernel(key) or PRE_LOGITS.search(key):
        fresh_keys.append(key)  # From a full-attention file / no pre_logits.
        out[key] = init
        continue
      fail(key, f'missing in the weights (expected shape {_shape(init)})')
    value = np.asarray(old[key])
    if value.shape != np.shape(init):
      if HEAD.search(key) or PRE_LOGITS.search(key):
        notes.append(f'{key} re-initialised: shape {_shape(value)} in the '
                     f'weights, {_shape(init)} in the model')
        out[key] = init
        continue
      try:
        value = _resize(key, value, init, new_prefix=new_prefix,
                        old_prefix=old_prefix, grid=target.grid,
                        source_grid=source_grid)
      except ValueError as e:
        fail(key, f'found shape {_shape(value)}, expected {_shape(init)} '
             f'({e})')
      if value is None:
        fail(key, f'found shape {_shape(old[key])}, expected {_shape(init)}')
      notes.append(f'{key} resized from {_shape(old[key])} to {_shape(init)}')
    out[key] = value.astype(np.asarray(init).dtype)
  unexpected = sorted(k for k in old if k not in new and not (
      PRE_LOGITS.search(k) or any(p.fullmatch(k) for p in patterns)))
  if unexpected:
    fail(unexpected[0], f'in the weights (shape {_shape(old[unexpected[0]])}) '
         f'but not in the model (expected no such key)'
         + (f'; {len(unexpected) - 1} more' if len(unexpected) > 1 else ''))
  dropped = sorted(k for k in old if k not in new and PRE_LOGITS.search(k))
  if dropped:
    notes.append('pre_logits of the weights dropped (the model has none)')
  if fresh_keys:
    notes.append(f'{len(fresh_keys)} array(s) freshly initialised: '
                 f'{_summarise(fresh_keys)}')
  tree = vt_npz.unflatten(out)
  return layer_layout.to_layout(tree, scanned), notes


def _resize(key: str, value: np.ndarray, init, *, new_prefix: int,
            old_prefix: int, grid, source_grid) -> np.ndarray | None:
  """The loaded `value` resized to `init`'s shape, or None if not resizable."""
  shape = np.shape(init)
  if key == POSEMB:
    new_grid = grid or posemb_resize.square_grid(shape[1] - new_prefix)
    return posemb_resize.resize(value, old_prefix=old_prefix,
                                new_prefix=new_prefix, new_grid=new_grid,
                                old_grid=source_grid)
  if linformer_from_full.is_sequence_kernel(key):
    if value.shape[:-2] + value.shape[-1:] != shape[:-2] + shape[-1:]:
      return None  # Another k or head count: not a length change.
    if old_prefix != new_prefix:
      raise ValueError('the weights and the model differ in cls token')
    new_grid = grid or posemb_resize.square_grid(shape[-2] - new_prefix)
    return linformer_from_full.resize_sequence_kernel(
        value, new_length=shape[-2], prefix=new_prefix, new_grid=new_grid,
        old_grid=source_grid)
  return None


def _summarise(keys: list[str], limit: int = 3) -> str:
  shown = ', '.join(keys[:limit])
  return shown + (f' and {len(keys) - limit} more' if len(keys) > limit else '')
