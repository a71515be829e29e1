"""The parameters a read-only action (predict, eval) uses for a run: the
workdir's latest readable checkpoint, else `config.init_from`, else fresh."""

import sys

import jax

from vit_jax.errors import ConfigError
from vit_jax.training import checkpointing
from vit_jax.training import train_state
from vit_jax.training import trainer
from vit_jax.training.workdir import READ_ONLY_CHANGES
from vit_jax.weights import initial_state

# What predict/eval may change against the run recorded in the workdir.
ALLOWED_CHANGES = READ_ONLY_CHANGES


def load(run, *, require: bool = False) -> tuple[object, int, str]:
  """(params placed as training places them, step, where they came from).

  Reads only: the checkpoint is restored with a read-only manager.

  Args:
    run: the run (trainer.build_run).
    require: refuse fresh weights (no checkpoint and no init_from).

  Raises:
    ConfigError: no checkpoint fits, init_from cannot be loaded, or
      nothing to load while `require`.
  """
  if checkpointing.saved_steps(run.workdir):
    ckpt = checkpointing.Checkpointer(run.workdir, every_steps=1,
                                      max_to_keep=None, read_only=True)
    try:
      state = trainer.restore_or_create_state(run, ckpt)
    finally:
      ckpt.close()
    step = int(jax.device_get(state.step))
    return state.params, step, f'checkpoint {step} of {run.workdir}'
  if run.config.get('init_from'):
    params = initial_state.adapted_params(run)
    return (initial_state.place(params, run.state_sharding.params), 0,
            f'init_from {run.config.init_from}')
  if require:
    raise ConfigError(f'no checkpoint in {run.workdir} and no '
                      'config.init_from: nothing to evaluate')
  if jax.process_index() == 0:
    print(f'warning: no checkpoint in {run.workdir} and no config.init_from: '
          'freshly initialised weights', file=sys.stderr, flush=True)
  state = train_state.create_train_state(*run.state_args())
  return state.params, 0, 'fresh weights'
