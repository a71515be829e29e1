r"""Runs one sweep point in its own process (what the sweep runner starts).

  python -m vit_jax.sweeps.run_point --config_json=W/point_config.json --workdir=W

Writes W/result.json with "status": "ok" and its figures; the runner records
failures (this process may die without a word, e.g. killed for memory).
"""

import json
import os

from absl import app
from absl import flags
from absl import logging
import ml_collections

from vit_jax import deterministic_kernels
from vit_jax import host_malloc
from vit_jax.sweeps import point

_CONFIG_JSON = flags.DEFINE_string('config_json', None, 'Resolved config.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Point workdir.')
_MAX_MEMORY_GB = flags.DEFINE_float(
    'max_memory_gb', None, 'Refuse benchmarks whose XLA plan exceeds this.')
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    'jax_distributed', False, 'Call jax.distributed.initialize() first.')
flags.mark_flags_as_required(['config_json', 'workdir'])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  with open(_CONFIG_JSON.value) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.get('deterministic'):  # As launch.py does, per point.
    deterministic_kernels.use_deterministic_kernels()
  if _JAX_DISTRIBUTED.value:
    import jax
    jax.distributed.initialize()
  limit = _MAX_MEMORY_GB.value
  row = point.run_point(config, _WORKDIR.value,
                        None if limit is None else int(limit * 2**30))
  row['status'] = 'ok'
  tmp = os.path.join(_WORKDIR.value, point.RESULT_FILE + '.tmp')
  with open(tmp, 'w') as f:
    json.dump(row, f, indent=1)
  os.replace(tmp, os.path.join(_WORKDIR.value, point.RESULT_FILE))


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  app.run(main)
