"""A registry of evaluators, chosen by the `kind` of each `config.evals` entry.

Adding an evaluator: one module in vit_jax/evaluators/ with an
`evaluator.Evaluator` subclass decorated with `registry.register(kind)`, plus
its import line in evaluators/__init__.py.
"""

from typing import Callable

_REGISTRY: dict[str, type] = {}


def register(kind: str) -> Callable[[type], type]:
  """Class decorator adding an evaluator under `kind`."""

  def add(cls):
    if kind in _REGISTRY:
      raise ValueError(f'evaluator {kind!r} registered twice')
    _REGISTRY[kind] = cls
    return cls

  return add


def names() -> list[str]:
  return sorted(_REGISTRY)


def get(kind: str) -> type:
  """The evaluator class registered under `kind`.

  Raises:
    ValueError: no such evaluator; the message lists the known ones.
  """
  if kind not in _REGISTRY:
    raise ValueError(f'unknown evaluator {kind!r}; known: '
                     f'{", ".join(names())}')
  return _REGISTRY[kind]
