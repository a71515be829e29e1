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

from typing import Any

from vit_jax.registry import Registry

_REGISTRY = Registry('attention')
register = _REGISTRY.register
unregister = _REGISTRY.unregister
names = _REGISTRY.names
get = _REGISTRY.get


def options_of(attention_config: Any) -> dict[str, Any]:
  """The keyword options of an attention config (everything but its name)."""
  options = dict(attention_config)
  options.pop('name', None)
  return options
