"""Tasks: what is learned (inputs, loss, metrics). Importing this package
registers all of them; `make_task(config)` builds the config's task."""

from vit_jax.tasks import classification  # noqa: F401  (registers it)
from vit_jax.tasks import ram_classification  # noqa: F401  (registers it)
from vit_jax.tasks import seq2seq  # noqa: F401  (registers it)
from vit_jax.tasks.registry import get, names, register, unregister  # noqa: F401
from vit_jax.tasks.task import Task  # noqa: F401


def task_name(config) -> str:
  """config.task, or the default task of config's model."""
  if config.get('task'):
    return config.task
  from vit_jax import models
  return getattr(models.model_class(config.model), 'DEFAULT_TASK',
                 'classification')


def make_task(config) -> Task:
  """The task the config trains (config.task, else the model's default)."""
  return get(task_name(config))(config)
