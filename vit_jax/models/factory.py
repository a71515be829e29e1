"""Builds a model from its config section, by `config.model.name`."""

from typing import Any, Mapping

import jax.numpy as jnp

from vit_jax import attention
from vit_jax import config_rules
from vit_jax.errors import ConfigError
from vit_jax.models import registry

DEFAULT_MODEL = 'vit'  # Configs saved before config.model.name existed.


def _plain(value: Any) -> Any:
  """ConfigDicts to dicts: flax module attributes must be plain and hashable."""
  return value.to_dict() if hasattr(value, 'to_dict') else value


def model_class(model_config) -> type:
  """The registered class `model_config.name` names.

  Raises:
    ConfigError: no model of that name.
  """
  name = model_config.get('name', DEFAULT_MODEL)
  try:
    return registry.get(name)
  except ValueError as e:
    raise ConfigError(f'config.model.name={name!r}: {e}') from None


def check_config(model_config) -> None:
  """Checks config.model's fields (and its attention's) before any work.

  Raises:
    ConfigError: naming the first bad field.
  """
  config_rules.check(model_config,
                     getattr(model_class(model_config), 'CONFIG_RULES', {}),
                     prefix='model')
  if 'attention' in model_config:
    options = model_config.attention
    try:
      variant = attention.get(options.get('name'))
    except ValueError as e:
      raise ConfigError(f'config.model.attention.name: {e}') from None
    # Options of another variant (the name switched by an override).
    accepted = set(variant.__dataclass_fields__) - {'parent', 'name'}
    foreign = sorted(set(options) - accepted - {'name'})
    if foreign:
      own = sorted(set(variant.OPTION_RULES))
      raise ConfigError(
          f'config.model.attention: {options.get("name")!r} takes no option '
          f'{", ".join(foreign)} (its options: {", ".join(own) or "none"}); '
          'use a config argument that builds this variant, e.g. '
          f'default.py:{options.get("name")}')
    config_rules.check(options, variant.OPTION_RULES, prefix='model.attention')


def get_model(model_config: Mapping[str, Any], num_classes: int | None = None,
              **data_kwargs: Any):
  """The flax module described by `model_config` (config.model).

  Args:
    model_config: the model's config section; `name` picks the class.
    num_classes: for classifiers (kept positional for existing callers).
    **data_kwargs: further arguments the data gives the model
      (`task.model_kwargs(info)`).
  """
  fields = {k: _plain(v) for k, v in dict(model_config).items()}
  cls = model_class(fields)
  fields.pop('name', None)
  if 'dtype' in fields or 'dtype' in cls.__dataclass_fields__:
    fields['dtype'] = jnp.dtype(fields.get('dtype', 'float32'))
  if num_classes is not None:
    data_kwargs['num_classes'] = num_classes
  return cls(**fields, **data_kwargs)
