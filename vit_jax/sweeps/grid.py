"""Building and applying sweep points.

A sweep is `config.sweep`: a list of points, each
`{'name': str, 'overrides': {dotted_key: value}}`. Values may be dicts (e.g. a
whole `model.attention` section). `product` builds the Cartesian product of
axes, the usual case; configs may also write points by hand.
"""

import copy
import itertools
import re
from typing import Any, Iterable

import ml_collections

from vit_jax.errors import ConfigError

Point = dict[str, Any]


def _short(value: Any) -> str:
  if isinstance(value, dict):
    return '_'.join(_short(v) for v in value.values())
  return re.sub(r'[^A-Za-z0-9.=]+', '', str(value))


def product(*axes: tuple[str, Iterable[Any]]) -> list[Point]:
  """Points for every combination of (dotted_key, values) axes, named by value.

  Raises:
    ValueError: an axis without values (the sweep would have no points, and
      an empty config.sweep means "not a sweep": one run would train).
  """
  axes = [(key, list(values)) for key, values in axes]
  empty = [key for key, values in axes if not values]
  if empty:
    raise ValueError(f'sweep axis {empty[0]!r} has no values: the sweep '
                     'would have no points')
  keys = [key for key, _ in axes]
  points = []
  for values in itertools.product(*(list(v) for _, v in axes)):
    overrides = dict(zip(keys, values))
    points.append({'name': '-'.join(_short(v) for v in values),
                   'overrides': overrides})
  return points


def apply(config: ml_collections.ConfigDict,
          point: Point) -> ml_collections.ConfigDict:
  """The config of one point: `config` without its sweep, with overrides.

  Raises:
    ConfigError: an override names a field the config does not have.
  """
  result = copy.deepcopy(config)
  result.unlock()
  result.sweep = []
  for key, value in point['overrides'].items():
    *parents, leaf = key.split('.')
    node = result
    for name in parents:
      if name not in node:
        raise ConfigError(f'sweep point {point["name"]!r}: no config field '
                         f'{key!r}')
      node = node[name]
    if leaf not in node:
      raise ConfigError(f'sweep point {point["name"]!r}: no config field {key!r}')
    node[leaf] = (ml_collections.ConfigDict(value) if isinstance(value, dict)
                  else value)
  result.lock()
  return result
