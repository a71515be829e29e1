r"""Runs one sweep point in its own process (what the sweep runner starts).

  python -m vit_jax.sweeps.point_job --config_json=W/point_config.json --workdir=W

Writes W/result.json with "status": "ok" and its figures, or "preempted"
(SIGTERM or Ctrl-C: a training point saved a checkpoint; exit 0 for SIGTERM,
as launch.py, so a cluster job counts as done-for-now and the rerun resumes).
A bad config or workdir ends with one `error:` line and exit 2; the runner
records other failures (this process may die without a word, e.g. killed for
memory).
"""

import os

from absl import app
from absl import flags
from absl import logging

from vit_jax import cli
from vit_jax.runtime import deterministic_kernels
from vit_jax import errors
from vit_jax.runtime import host_devices
from vit_jax.runtime import host_malloc
from vit_jax.sweeps import point
from vit_jax.training import workdir as workdir_lib

_CONFIG_JSON = flags.DEFINE_string('config_json', None, 'Resolved config.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Point workdir.')
_MAX_MEMORY_GB = flags.DEFINE_float(
    'max_memory_gb', None, 'Refuse benchmarks whose XLA plan exceeds this.')
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    'jax_distributed', False, 'Call jax.distributed.initialize() first.')
flags.mark_flags_as_required(['config_json', 'workdir'])


def _write_result(workdir: str, row: dict) -> None:
  workdir_lib.write_json(workdir, point.RESULT_FILE, row, indent=1)


def _read_config(path: str):
  if not os.path.exists(path):
    raise errors.ConfigError(f'--config_json={path}: no such file')
  saved = workdir_lib.read_json(path, what='--config_json')
  if not isinstance(saved, dict):
    raise errors.ConfigError(
        f'--config_json={path} is not a config (a JSON object)')
  return workdir_lib.config_from_record(saved)


def main(argv):
  if len(argv) > 1:
    cli.fail(f'unexpected argument(s) {" ".join(argv[1:])!r}')
  logging.set_verbosity(logging.WARNING)
  with cli.user_errors_exit():
    config = _read_config(_CONFIG_JSON.value)
  if config.get('deterministic'):  # As launch.py does, per point.
    deterministic_kernels.use_deterministic_kernels()
  host_devices.use_one_device_per_core(config,
                                       distributed=_JAX_DISTRIBUTED.value)
  if _JAX_DISTRIBUTED.value:
    import jax
    jax.distributed.initialize()
  limit = _MAX_MEMORY_GB.value
  with cli.user_errors_exit():
    try:
      row = point.result_row(config, _WORKDIR.value,
                             None if limit is None else int(limit * 2**30))
    except errors.Stopped as e:  # Recorded, then exits as any stop does.
      _write_result(_WORKDIR.value, {'status': 'preempted', 'step': e.step,
                                     'reason': str(e)})
      raise
    row['status'] = 'ok'
    _write_result(_WORKDIR.value, row)


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  app.run(main, flags_parser=cli.parse_flags)
