"""Checks a config before any expensive work, with one-line errors."""

import jax

from jax.sharding import Mesh

from vit_jax.errors import ConfigError
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import optimizer as optimizer_lib
from vit_jax.training import sharding as sharding_lib


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def check_training_fields(config, *, device_count: int,
                          process_count: int) -> None:
  """Checks the fields of the trainer (not those of the model)."""
  from vit_jax.training.config_validation import MODES  # The one list.
  _check(config.mode in MODES,
         f'unknown mode {config.mode!r}; known: {", ".join(MODES)}')
  _check(config.total_steps is not None or config.total_epochs is not None,
         'set total_steps or total_epochs')
  _check((config.total_steps or 0) >= 0 and (config.total_epochs or 0) >= 0,
         'total_steps and total_epochs must not be negative')
  for name in ('batch_size', 'eval_batch_size'):
    size = config[name]
    _check(size > 0 and size % device_count == 0,
           f'{name}={size} is not divisible by the number of devices '
           f'({device_count})')
    _check(size % process_count == 0,
           f'{name}={size} is not divisible by the number of processes '
           f'({process_count})')
  accum = config.grad_accum_steps
  _check(config.batch_size % (device_count * accum) == 0,
         f'batch_size={config.batch_size} is not divisible by the number of '
         f'devices ({device_count}) x grad_accum_steps ({accum}): every '
         'device needs whole micro-batches')
  try:
    optimizer_lib.learning_rate_schedule(config.lr, 1)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  _check(config.optimizer.name in ('adamw', 'sgd'),
         f'unknown optimizer.name {config.optimizer.name!r}; known: adamw, sgd')


def checked_mesh(config) -> Mesh:
  """The config's mesh, once it, the sharding rules and the trainer's
  fields (batch sizes against its devices) are checked.

  Raises:
    ConfigError: with a one-line message.
  """
  try:
    mesh = mesh_lib.make_mesh(axes=config.mesh)
    sharding_lib.check_rules(config.sharding_rules, mesh.axis_names)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  check_training_fields(config, device_count=mesh.size,
                        process_count=jax.process_count())
  return mesh


def check_model(model, inputs) -> None:
  """Traces the model's init abstractly (no FLOPs) so shape errors surface now.

  Errors any part of the model raises for its input (image size not
  divisible by the patch size, too long for Linformer's max_length, heads not
  dividing the width, ...) become ConfigErrors, without the trainer knowing
  the models or the variants.

  Args:
    model: the flax module.
    inputs: its positional inputs (`task.init_inputs(info)`), shapes only.
  """
  try:
    jax.eval_shape(lambda *x: model.init(jax.random.key(0), *x, train=False),
                   *inputs)
  except (ValueError, TypeError) as e:
    raise ConfigError(f'model config: {str(e).splitlines()[0]}') from None
