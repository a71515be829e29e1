"""The device mesh and how batches are placed on it.

`config.mesh` names the axes and their sizes, e.g. (('data', -1),) (the
default: data parallel over every device) or (('data', 2), ('fsdp', -1));
one size may be -1 (what the other axes leave). Batches are split over all
axes; parameters are placed by `vit_jax/training/sharding.py`.
"""

from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DEFAULT_AXES = (('data', -1),)


def axis_sizes(axes: Sequence[tuple[str, int]], device_count: int
               ) -> tuple[tuple[str, int], ...]:
  """`axes` with the -1 resolved.

  Raises:
    ValueError: (one line) sizes that do not multiply to `device_count`.
  """
  names = [name for name, _ in axes]
  sizes = [int(size) for _, size in axes]
  if len(set(names)) != len(names) or sizes.count(-1) > 1 or any(
      s == 0 or s < -1 for s in sizes):
    raise ValueError(f'config.mesh={tuple(axes)}: axis names must be unique, '
                     'sizes >= 1 with at most one -1')
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if device_count % known:
      raise ValueError(f'config.mesh={tuple(axes)}: {device_count} devices '
                       f'do not split into axes of {known}')
    sizes[sizes.index(-1)] = device_count // known
  if int(np.prod(sizes)) > device_count:
    raise ValueError(f'config.mesh={tuple(axes)} needs {int(np.prod(sizes))} '
                     f'devices; there are {device_count}')
  return tuple(zip(names, sizes))


def make_mesh(devices=None, axes: Sequence[tuple[str, int]] = DEFAULT_AXES
              ) -> Mesh:
  """A mesh of `axes` over `devices` (default: all devices, all processes)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  resolved = axis_sizes(axes, devices.size)
  sizes = [s for _, s in resolved]
  if int(np.prod(sizes)) < devices.size and jax.process_count() > 1:
    # The first devices could all be one process's: the others would hold
    # no part of the batch.
    raise ValueError(f'config.mesh={tuple(axes)} uses {int(np.prod(sizes))} '
                     f'of {devices.size} devices; with several processes a '
                     'mesh must span them all (use -1 for one axis)')
  # Fixed sizes may use fewer devices than there are (e.g. (('data', 1),)):
  # the first ones. Auto axes (not jax.make_mesh's Explicit ones): linen
  # code runs unchanged.
  return Mesh(devices.ravel()[:int(np.prod(sizes))].reshape(sizes),
              tuple(n for n, _ in resolved))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """The batch axis split over every mesh axis (data and FSDP alike)."""
  return NamedSharding(mesh, P(mesh.axis_names))


def shard_batch(local_batch: Mapping[str, np.ndarray],
                mesh: Mesh) -> dict[str, Any]:
  """Assembles each process's slice of a batch into global arrays."""
  sharding = batch_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in local_batch.items()}
