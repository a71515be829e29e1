"""Builds a model from its config section, by `config.model.name`."""

from typing import Any, Mapping

import jax.numpy as jnp

from vit_jax import attention
from vit_jax import config_rules
from vit_jax.errors import ConfigError
from vit_jax.models.vit import VisionTransformer

# config.model.name -> model class. A class may declare CONFIG_RULES for its
# config section (vit_jax.config_rules).
MODELS = {'vit': VisionTransformer}


def _plain(value: Any) -> Any:
  """ConfigDicts to dicts: flax module attributes must be plain and hashable."""
  return value.to_dict() if hasattr(value, 'to_dict') else value


def check_config(model_config) -> None:
  """Checks config.model's fields (and its attention's) before any work.

  Raises:
    ConfigError: naming the first bad field.
  """
  name = model_config.get('name', 'vit')
  if name not in MODELS:
    raise ConfigError(f'config.model.name={name!r}: unknown model; known: '
                      f'{", ".join(sorted(MODELS))}')
  config_rules.check(model_config, getattr(MODELS[name], 'CONFIG_RULES', {}),
                     prefix='model')
  if 'attention' in model_config:
    options = model_config.attention
    try:
      variant = attention.get(options.get('name'))
    except ValueError as e:
      raise ConfigError(f'config.model.attention.name: {e}') from None
    config_rules.check(options, variant.OPTION_RULES, prefix='model.attention')


def get_model(model_config: Mapping[str, Any], num_classes: int):
  """Returns the flax module described by `model_config` (config.model)."""
  fields = {k: _plain(v) for k, v in dict(model_config).items()}
  model_class = MODELS[fields.pop('name', 'vit')]
  fields['dtype'] = jnp.dtype(fields.get('dtype', 'float32'))
  return model_class(num_classes=num_classes, **fields)
