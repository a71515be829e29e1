"""The device mesh and how arrays are placed on it.

One 'data' axis over all devices of all processes: the batch is split along
it and parameters are replicated. Rules for sharding parameters (FSDP) would
go beside `replicated`.
"""

from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over `devices` (default: all devices of all processes)."""
  # Auto axes (not jax.make_mesh's Explicit ones): linen code runs unchanged.
  return Mesh(np.asarray(jax.devices() if devices is None else devices),
              ('data',))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def shard_batch(local_batch: Mapping[str, np.ndarray],
                mesh: Mesh) -> dict[str, Any]:
  """Assembles each process's slice of a batch into global arrays."""
  sharding = batch_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in local_batch.items()}
