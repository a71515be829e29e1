"""The first train state of a fresh run with `config.init_from`: the loaded
weights, adapted to the run's model, placed as training places them, with a
fresh optimizer state. A resumed run never gets here (it has a checkpoint).
"""

import jax
import numpy as np

from vit_jax.training import train_state
from vit_jax.weights import adapt
from vit_jax.weights import sources


def target_of(run) -> adapt.Target:
  """The run's model as adapt needs it: fresh parameters and patch grid."""
  # The same values a run from scratch starts with (same function, seed).
  fresh = train_state.init_params(run.model, run.task.init_inputs(run.info),
                                  run.config.seed)
  fresh = jax.tree.map(np.asarray, jax.device_get(fresh))
  grid = None
  patch = getattr(run.model, 'patch_size', None)
  if patch:
    h, w = run.info.image_shape[:2]
    grid = (h // patch, w // patch)
  return adapt.Target(fresh=sources.as_plain_dict(fresh), grid=grid)


# The last run checked: (run, params, announcement). The trainer checks a
# fresh run before taking the workdir, then creates its state: one load.
_checked: list = []


def _load_and_adapt(run):
  """(params, the line announcing them) for `run.config.init_from`."""
  if _checked and _checked[0] is run:
    return _checked[1], _checked[2]
  loaded = sources.load(run.config.init_from)
  params, notes = adapt.adapt(
      loaded.params, target_of(run), source=loaded.source,
      skip=tuple(run.config.get('init_skip') or ()), source_grid=loaded.grid)
  step = f' (step {loaded.step})' if loaded.step is not None else ''
  line = (f'init_from {loaded.source}{step}: '
          f'{train_state.count_params(params):,} parameters'
          + ''.join(f'; {note}' for note in notes))
  _checked[:] = [run, params, line]
  return params, line


def check(run) -> None:
  """Loads and adapts `run.config.init_from` now (kept for `create`).

  Raises:
    ConfigError: unreadable weights or a key that does not fit (one line).
  """
  _load_and_adapt(run)


def adapted_params(run, *, announce: bool = True):
  """`run.config.init_from`'s parameters fitted to the run's model (NumPy).

  Raises:
    ConfigError: unreadable weights or a key that does not fit (one line).
  """
  params, line = _load_and_adapt(run)
  _checked.clear()  # Used: not kept in memory any longer.
  if announce and jax.process_index() == 0:
    print(line, flush=True)
  return params


def place(params, sharding):
  """NumPy parameters as global arrays placed by `sharding` (every process
  holds the whole arrays; each device takes its part)."""
  return jax.tree.map(
      lambda x, s: jax.make_array_from_callback(x.shape, s, lambda i: x[i]),
      params, sharding)


def create(run) -> train_state.TrainState:
  """Step 0 of a fresh run: init_from's adapted parameters, fresh optimizer."""
  params = place(adapted_params(run), run.state_sharding.params)
  opt_state = jax.jit(run.tx.init,
                      out_shardings=run.state_sharding.opt_state)(params)
  step = place(np.zeros((), np.int32), run.state_sharding.step)
  return train_state.TrainState(step=step, params=params, opt_state=opt_state)
