"""Where each array of the train state lives: sharding rules by path.

`config.sharding_rules` is an ordered list of (regex, rule); the first regex
that matches an array's path ('params/Transformer/encoderblock_0/MlpBlock_3/
Dense_0/kernel', 'opt_state/1/0/mu/...') decides. Rules:

  'replicate'              every device holds the whole array;
  'fsdp(AXIS, MIN_MB)'     split the array's largest dimension that AXIS's
                           size divides over AXIS (fully sharded data
                           parallel); arrays under MIN_MB MiB, or with no such
                           dimension, are replicated. The leading layer
                           axis of a scanned encoder's stacked arrays
                           (`encoderblock/`) is never the one split: every
                           scan step reads one layer whole.

Arrays no rule matches are replicated. Adam's moments have their parameter's
path inside the optimizer state, so they follow the same rule.
"""

import re
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from vit_jax.models import layer_layout

_FSDP = re.compile(r'fsdp\(\s*(\w+)\s*,\s*([\d.]+)\s*\)$')


def parse_rule(rule: str) -> tuple[str, str | None, float]:
  """'replicate' -> ('replicate', None, 0); 'fsdp(fsdp, 1)' -> ('fsdp',
  'fsdp', 1.0).

  Raises:
    ValueError: an unknown rule.
  """
  if rule == 'replicate':
    return 'replicate', None, 0.0
  match = _FSDP.match(rule.strip())
  if not match:
    raise ValueError(f'unknown sharding rule {rule!r}; known: replicate, '
                     'fsdp(AXIS, MIN_MB)')
  return 'fsdp', match.group(1), float(match.group(2))


def check_rules(rules: Sequence[tuple[str, str]], mesh_axes) -> None:
  """Raises ValueError (one line) for a bad regex, rule or axis name."""
  for pattern, rule in rules:
    try:
      re.compile(pattern)
    except re.error as e:
      raise ValueError(f'sharding rule regex {pattern!r}: {e}') from None
    kind, axis, _ = parse_rule(rule)
    if kind == 'fsdp' and axis not in mesh_axes:
      raise ValueError(f'sharding rule {rule!r}: no mesh axis {axis!r} '
                       f'(config.mesh has {", ".join(mesh_axes)})')


def spec_for(path: str, shape: tuple[int, ...], itemsize: int, mesh: Mesh,
             rules: Sequence[tuple[str, str]]) -> P:
  """The PartitionSpec the first matching rule gives an array."""
  for pattern, rule in rules:
    if not re.search(pattern, path):
      continue
    kind, axis, min_mb = parse_rule(rule)
    if kind == 'replicate':
      return P()
    size = mesh.shape[axis]
    if np.prod(shape) * itemsize < min_mb * 2**20:
      return P()
    stacked = f'/{layer_layout.SCAN_KEY}/' in f'/{path}/'
    divisible = [d for d in range(int(stacked), len(shape))
                 if shape[d] % size == 0]
    if not divisible:
      return P()
    largest = max(divisible, key=lambda d: shape[d])
    return P(*[axis if d == largest else None for d in range(len(shape))])
  return P()


def _path_string(path) -> str:
  return '/'.join(str(getattr(k, 'key', getattr(k, 'name', getattr(
      k, 'idx', k)))) for k in path)


def tree_shardings(abstract_tree: Any, mesh: Mesh,
                   rules: Sequence[tuple[str, str]]) -> Any:
  """NamedShardings for every leaf (shapes only needed) of a pytree."""
  return jax.tree_util.tree_map_with_path(
      lambda path, x: NamedSharding(mesh, spec_for(
          _path_string(path), tuple(x.shape), np.dtype(x.dtype).itemsize,
          mesh, rules)), abstract_tree)


def bytes_per_device(tree: Any) -> int:
  """Bytes of the tree's shards held by the first device."""
  device = jax.devices()[0]
  return sum(s.data.nbytes for x in jax.tree.leaves(tree)
             for s in x.addressable_shards if s.device == device)
