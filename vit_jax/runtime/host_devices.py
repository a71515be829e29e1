"""One XLA:CPU device per core: data parallelism across one host's cores.

XLA:CPU runs a device's program largely one op at a time, and splits a
single matmul over its intra-op threads poorly when the matrices are small
(the catsdogs model's [3200, 128] x [128, 512]): profiled on 2 cores, each of
the two threads was busy ~63% of the train step. Splitting every batch over
one single-threaded CPU device per core instead keeps both cores busy with
independent halves: the catsdogs Linformer train step ran +14% and its
forward pass +10% faster (figures: docs/results.md, "catsdogs Linformer").

`config.cpu_device_per_core` (default True) asks for this. It is applied
before the backend starts and only where it cannot change what the user set:
XLA_FLAGS without a device count of its own, JAX_PLATFORMS unset or 'cpu', a
single process, and the default mesh (`(('data', -1),)`). The device count
is the largest number <= the usable cores that divides every batch the
config's mode shards (train micro-batch and eval batch; the predict or eval
batch), so a config that runs on one device runs here too.
"""

import os
from typing import Optional

DEVICE_COUNT_FLAG = '--xla_force_host_platform_device_count'
SINGLE_THREAD_FLAG = '--xla_cpu_multi_thread_eigen=false'
DEFAULT_MESH = (('data', -1),)


def usable_cores() -> int:
  """Cores this process may run on (its affinity mask), at least 1."""
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:  # Not Linux.
    return max(1, os.cpu_count() or 1)


def sharded_batches(config) -> list[int]:
  """The batch sizes `config.mode` splits over devices (a train batch as
  its micro-batches' size times the device count must divide it)."""
  mode = config.get('mode') or 'train'
  if mode == 'predict':
    return [config.predict_batch_size]
  if mode == 'eval':
    return [config.eval_batch_size]
  accum = config.get('grad_accum_steps') or 1
  train = [config.batch_size // accum if config.batch_size % accum == 0
           else 1]  # Not divisible: the config check refuses it anyway.
  return train + ([config.eval_batch_size] if mode == 'train' else [])


def device_count_for(config, cores: int) -> int:
  """The largest d <= cores dividing every batch `config` shards."""
  batches = sharded_batches(config)
  return next(d for d in range(cores, 0, -1)
              if all(b % d == 0 for b in batches))


def use_one_device_per_core(config, *, distributed: bool) -> Optional[int]:
  """Sets XLA_FLAGS for one CPU device per core where the module doc allows.

  Call before JAX's backend starts (importing jax is fine).

  Returns:
    The device count set, or None if nothing was changed.
  """
  if not config.get('cpu_device_per_core') or distributed:
    return None
  flags = os.environ.get('XLA_FLAGS', '').split()
  if any(f.split('=')[0] == DEVICE_COUNT_FLAG for f in flags):
    return None  # The user's (or a test's) own choice.
  if os.environ.get('JAX_PLATFORMS', 'cpu') not in ('', 'cpu'):
    return None
  try:
    mesh = tuple(tuple(axis) for axis in (config.get('mesh') or DEFAULT_MESH))
    count = device_count_for(config, usable_cores())
  except (TypeError, ValueError, ZeroDivisionError, AttributeError):
    return None  # A malformed config: validation reports it in one line.
  if mesh != DEFAULT_MESH:
    return None
  if count <= 1:
    return None
  added = [f'{DEVICE_COUNT_FLAG}={count}']
  if not any(f.split('=')[0] == SINGLE_THREAD_FLAG.split('=')[0]
             for f in flags):
    added.append(SINGLE_THREAD_FLAG)  # One thread per device, not 2 x 2.
  os.environ['XLA_FLAGS'] = ' '.join(flags + added)
  return count
