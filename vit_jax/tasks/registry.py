"""A registry of tasks, chosen by `config.task` (None: the model's default).

Adding a task: one module in vit_jax/tasks/ with a `task.Task` subclass
decorated with `registry.register(name)`, plus its import line in
tasks/__init__.py.
"""

from typing import Callable

_REGISTRY: dict[str, type] = {}


def register(name: str) -> Callable[[type], type]:
  """Class decorator adding a task under `name`."""

  def add(cls):
    if name in _REGISTRY:
      raise ValueError(f'task {name!r} registered twice')
    _REGISTRY[name] = cls
    return cls

  return add


def unregister(name: str) -> None:
  """Removes a task (for tests that register their own)."""
  _REGISTRY.pop(name, None)


def names() -> list[str]:
  return sorted(_REGISTRY)


def get(name: str) -> type:
  """The task class registered under `name`.

  Raises:
    ValueError: no such task; the message lists the known ones.
  """
  if name not in _REGISTRY:
    raise ValueError(f'unknown task {name!r}; known: {", ".join(names())}')
  return _REGISTRY[name]
