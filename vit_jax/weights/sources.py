"""Where `config.init_from` points: a weights file or another run.

  PATH.npz   VT's or big_vision's published layout (vt_npz.read);
  WORKDIR    a run of this codebase: its latest readable checkpoint's
             parameters (read-only; also of a running run), and its patch
             grid from its config.
"""

import dataclasses
import os
from typing import Any

import jax
import numpy as np

from vit_jax.errors import ConfigError
from vit_jax.weights import vt_npz


@dataclasses.dataclass(frozen=True)
class LoadedWeights:
  """Parameters read from `source`.

  Attributes:
    params: nested dict of NumPy arrays, VT's names, either layer layout.
    source: the path, for messages.
    grid: (rows, cols) of the patch grid they were trained on, if known.
    step: the checkpoint's step (runs only).
  """
  params: dict[str, Any]
  source: str
  grid: tuple[int, int] | None = None
  step: int | None = None


def load(init_from: str) -> LoadedWeights:
  """Reads the weights `init_from` names.

  Raises:
    ConfigError: nothing readable there (one line naming it).
  """
  path = os.path.expanduser(init_from)
  if os.path.isdir(path):
    return load_run(path)
  if not os.path.exists(path):
    raise ConfigError(f'config.init_from={init_from!r}: no such file or run '
                      'directory')
  return LoadedWeights(params=vt_npz.read(path), source=path)


def load_run(workdir: str) -> LoadedWeights:
  """The parameters of `workdir`'s latest readable checkpoint (read-only).

  Raises:
    ConfigError: no run or no checkpoint there.
  """
  from vit_jax.training import trainer  # Late: .npz users skip the trainer.
  try:
    config, state = trainer.load_state(workdir)
  except ConfigError as e:
    raise ConfigError(f'weights from run {workdir}: {e}') from None
  params = jax.tree.map(np.asarray, jax.device_get(state.params))
  grid = None
  patch = config.model.get('patch_size')
  if patch and config.get('image_size'):
    side = config.image_size // patch
    grid = (side, side)
  return LoadedWeights(params=as_plain_dict(params), source=workdir, grid=grid,
                       step=int(jax.device_get(state.step)))


def as_plain_dict(tree) -> Any:
  """Flax's (frozen) dicts as plain nested dicts."""
  if hasattr(tree, 'items'):
    return {k: as_plain_dict(v) for k, v in tree.items()}
  return tree
