"""A registry of models, chosen by `config.model.name`.

A model is a flax module class built from its config section:
`Model(**config.model minus name, **task.model_kwargs(info))`. It may declare

  CONFIG_RULES: rules for its config section (vit_jax.config_rules), checked
    before any work;
  DEFAULT_TASK: the task (vit_jax.tasks) a config gets when it names none;
  sequence_length(input_shape): tokens its encoder sees for one example of
    that shape (for throughput in tokens/s and sweep tables).

Adding a model: one new module in vit_jax/models/ whose class is decorated
with `registry.register(name)`, plus its import line in models/__init__.py.
"""

from typing import Callable

import flax.linen as nn

_REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
  """Class decorator adding a model under `name`."""

  def add(cls):
    if name in _REGISTRY:
      raise ValueError(f'model {name!r} registered twice')
    _REGISTRY[name] = cls
    return cls

  return add


def unregister(name: str) -> None:
  """Removes a model (for tests that register their own)."""
  _REGISTRY.pop(name, None)


def names() -> list[str]:
  return sorted(_REGISTRY)


def get(name: str) -> type[nn.Module]:
  """The model class registered under `name`.

  Raises:
    ValueError: no such model; the message lists the known ones.
  """
  if name not in _REGISTRY:
    raise ValueError(f'unknown model {name!r}; known: {", ".join(names())}')
  return _REGISTRY[name]
