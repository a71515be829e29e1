"""Rules for config fields: each returns None for a good value, else what is
wrong with it, so that a table of rules checks a whole config section.

  check(section, {'k': integer(low=1)}, prefix='model.attention')
  -> ConfigError('config.model.attention.k=0: must be >= 1')
"""

import math
import numbers
from typing import Any, Callable, Mapping, Optional

from vit_jax.errors import ConfigError

# A rule returns None if the value is fine, else what is wrong with it.
Rule = Callable[[Any], Optional[str]]


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def integer(*, low: int, high: Optional[int] = None,
            optional: bool = False) -> Rule:
  """An int in [low, high] (None allowed if `optional`)."""

  def rule(value):
    if value is None:
      return None if optional else 'must be set (an integer)'
    if not _is_int(value):
      return f'must be an integer, not {type(value).__name__}'
    if value < low:
      return f'must be >= {low}'
    if high is not None and value > high:
      return f'must be <= {high}'
    return None

  return rule


def number(*, low: float = -math.inf, high: float = math.inf,
           low_open: bool = False, high_open: bool = False,
           optional: bool = False) -> Rule:
  """A finite real number in the interval given."""

  def rule(value):
    if value is None:
      return None if optional else 'must be set (a number)'
    if not _is_number(value):
      return f'must be a number, not {type(value).__name__}'
    if not math.isfinite(value):
      return 'must be a finite number'
    if value < low or (low_open and value == low):
      return f'must be {">" if low_open else ">="} {low:g}'
    if value > high or (high_open and value == high):
      return f'must be {"<" if high_open else "<="} {high:g}'
    return None

  return rule


def one_of(choices) -> Rule:
  def rule(value):
    if value not in choices:
      return f'unknown value; known: {", ".join(map(str, choices))}'
    return None

  return rule


def boolean(value) -> Optional[str]:
  return None if isinstance(value, bool) else 'must be True or False'


def text(value) -> Optional[str]:
  if not isinstance(value, str) or not value.strip():
    return 'must be a non-empty string'
  return None


def optional_text(value) -> Optional[str]:
  return None if value is None else text(value)


def names(value) -> Optional[str]:
  """A sequence of op names (or ops themselves)."""
  if isinstance(value, str) or not isinstance(value, (list, tuple)):
    return 'must be a tuple of names, e.g. ("flip_lr",)'
  return None


def randaugment(value) -> Optional[str]:
  """None, or (num_layers >= 0, magnitude in [0, 10])."""
  if value is None:
    return None
  if not isinstance(value, (list, tuple)) or len(value) != 2:
    return 'must be None or a pair (num_layers, magnitude), e.g. (2, 10)'
  layers = integer(low=0)(value[0])
  if layers:
    return f'num_layers {layers}'
  magnitude = number(low=0, high=10)(value[1])
  return magnitude and f'magnitude {magnitude}'


def value_range(value) -> Optional[str]:
  if (not isinstance(value, (list, tuple)) or len(value) != 2
      or not all(_is_number(v) and math.isfinite(v) for v in value)):
    return 'must be a pair of finite numbers (low, high), e.g. (-1, 1)'
  if not value[0] < value[1]:
    return 'must have low < high'
  return None


_MISSING = object()


def lookup(section, dotted: str) -> Any:
  """section.a.b for 'a.b', or _MISSING if a level is absent."""
  node = section
  for key in dotted.split('.'):
    try:
      if key not in node:
        return _MISSING
      node = node[key]
    except TypeError:  # A level that is not a section.
      return _MISSING
  return node


def check(section, rules: Mapping[str, Rule], *, prefix: str = '') -> None:
  """Applies `rules` (dotted field -> rule) to `section`.

  Fields the section lacks are skipped: configs saved by older versions may
  not have them, and their readers fall back to defaults.

  Raises:
    ConfigError: `config.PREFIX.FIELD=VALUE: problem` for the first bad field.
  """
  for dotted, rule in rules.items():
    value = lookup(section, dotted)
    if value is _MISSING:
      continue
    problem = rule(value)
    if problem:
      name = f'{prefix}.{dotted}' if prefix else dotted
      shown = repr(value)
      shown = shown if len(shown) <= 60 else shown[:57] + '...'
      raise ConfigError(f'config.{name}={shown}: {problem}')
