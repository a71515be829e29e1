"""A registry of attention variants, chosen by config name.

Every variant is a flax module class with the same call signature::

    y = Variant(num_heads=..., **options)(x, mask=None, deterministic=True)
    # x: [batch, length, dim], mask: bool [batch, length] (True = real token),
    # y: [batch, length, dim]

Some variants own parameters shared by all layers of an encoder (Linformer's
layerwise projection). Such a variant overrides ``make_shared``; the encoder
calls it once and hands the result to every layer, so models never need to
know which variant they hold.
"""

from typing import Any, Callable

import flax.linen as nn

_REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
  """Class decorator adding an attention variant under `name`."""

  def add(cls):
    if name in _REGISTRY:
      raise ValueError(f'attention variant {name!r} registered twice')
    _REGISTRY[name] = cls
    return cls

  return add


def names() -> list[str]:
  return sorted(_REGISTRY)


def get(name: str) -> type[nn.Module]:
  """Returns the attention class registered under `name`."""
  if name not in _REGISTRY:
    raise ValueError(
        f'unknown attention {name!r}; known: {", ".join(names())}')
  return _REGISTRY[name]


def options_of(attention_config: Any) -> dict[str, Any]:
  """The keyword options of an attention config (everything but its name)."""
  options = dict(attention_config)
  options.pop('name', None)
  return options
