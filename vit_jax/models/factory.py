"""Builds a model from its config section."""

from typing import Any, Mapping

import jax.numpy as jnp

from vit_jax.models.vit import VisionTransformer


def _plain(value: Any) -> Any:
  """ConfigDicts to dicts: flax module attributes must be plain and hashable."""
  return value.to_dict() if hasattr(value, 'to_dict') else value


def get_model(model_config: Mapping[str, Any], num_classes: int):
  """Returns the flax module described by `model_config` (config.model)."""
  fields = {k: _plain(v) for k, v in dict(model_config).items()}
  fields.pop('name', None)  # Only 'vit' so far; kept for future models.
  fields['dtype'] = jnp.dtype(fields.get('dtype', 'float32'))
  return VisionTransformer(num_classes=num_classes, **fields)
