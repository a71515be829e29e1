"""A registry of classes by name: what attention variants, models, tasks and
evaluators are chosen from (each layer keeps one, in its registry.py).

  MODELS = Registry('model')

  @MODELS.register('vit')
  class VisionTransformer(nn.Module): ...

  MODELS.get('vit')  # -> VisionTransformer; unknown names list the known
"""

from typing import Callable, TypeVar

T = TypeVar('T')


class Registry:
  """Name -> class, filled by a class decorator."""

  def __init__(self, kind: str):
    """`kind` names what is registered in messages ('model', 'task', ...)."""
    self._kind = kind
    self._classes: dict[str, type] = {}

  def register(self, name: str) -> Callable[[T], T]:
    """Class decorator adding the class under `name`."""

    def add(cls):
      if name in self._classes:
        raise ValueError(f'{self._kind} {name!r} registered twice')
      self._classes[name] = cls
      return cls

    return add

  def unregister(self, name: str) -> None:
    """Removes a class (for tests that register their own)."""
    self._classes.pop(name, None)

  def names(self) -> list[str]:
    return sorted(self._classes)

  def get(self, name: str) -> type:
    """The class registered under `name`.

    Raises:
      ValueError: no such name; the message lists the known ones.
    """
    if name not in self._classes:
      raise ValueError(f'unknown {self._kind} {name!r}; known: '
                       f'{", ".join(self.names())}')
    return self._classes[name]
