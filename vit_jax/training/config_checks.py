"""Checks a config before any expensive work, with one-line errors."""

import jax

from vit_jax import attention
from vit_jax.training import optimizer as optimizer_lib


from vit_jax.errors import ConfigError  # noqa: F401  (re-exported)


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def check_training_fields(config, *, device_count: int,
                          process_count: int) -> None:
  """Checks the fields of the trainer (not those of the model)."""
  _check(config.mode in ('train', 'predict', 'benchmark'),
         f'unknown mode {config.mode!r}; known: train, predict, benchmark')
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
  try:
    optimizer_lib.learning_rate_schedule(config.lr, 1)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  _check(config.optimizer.name in ('adamw', 'sgd'),
         f'unknown optimizer.name {config.optimizer.name!r}; known: adamw, sgd')


def check_model(config, model, image_shape: tuple[int, ...]) -> None:
  """Traces the model abstractly (no FLOPs) so shape errors surface now.

  Errors any part of the model raises for its input (Linformer's max_length,
  heads not dividing the width, ...) become ConfigErrors, without the
  trainer knowing the variants.
  """
  m = config.model
  try:
    attention.get(m.attention.name)
  except ValueError as e:
    raise ConfigError(f'model.attention.name: {e}') from None
  _check(config.image_size % m.patch_size == 0,
         f'image_size={config.image_size} is not divisible by '
         f'model.patch_size={m.patch_size}')
  images = jax.ShapeDtypeStruct((1,) + tuple(image_shape), 'float32')
  try:
    jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False),
                   images)
  except (ValueError, TypeError) as e:
    raise ConfigError(f'model config: {str(e).splitlines()[0]}') from None
