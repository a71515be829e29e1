r"""Prints training and inference speed and memory of any config.

  python -m vit_jax.benchmarking --config=configs/catsdogs.py:linformer

Measures the compiled train step and forward pass on random inputs of the
config's shape (batch `config.batch_size`), each in its own subprocess so that
peak RSS is per kind, and the machine's dense f32 matmul FLOP/s for scale.
"""

import copy
import json
import subprocess
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from vit_jax import cli
from vit_jax import errors
from vit_jax.runtime import host_devices
from vit_jax.runtime import host_malloc
from vit_jax.benchmarking import report

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_KIND = flags.DEFINE_enum('kind', None, ['train', 'forward'],
                          'Measure only this (in this process).')
_STEPS = flags.DEFINE_integer('steps', 5, 'Timed steps after one warm-up.')
flags.mark_flag_as_required('config')


def _measure_here(config, kind: str) -> dict:
  from vit_jax.sweeps import point
  config = copy.deepcopy(config)
  config.unlock()
  config.mode = 'benchmark'
  config.benchmark.kind = kind
  config.benchmark.steps = _STEPS.value
  return point.result_row(config, workdir='')


def main(argv):
  del argv  # parse_flags refused positional arguments.
  logging.set_verbosity(logging.WARNING)
  from vit_jax.training import config_validation
  with cli.user_errors_exit():
    config_validation.validate(_CONFIG.value)
    # Before JAX starts; the children inherit XLA_FLAGS.
    host_devices.use_one_device_per_core(_CONFIG.value, distributed=False)
    if _STEPS.value < 1:
      raise errors.ConfigError(f'--steps={_STEPS.value}: must be >= 1')
    if _KIND.value:  # Child: measure one kind, print one JSON line.
      print('RESULT ' + json.dumps(_measure_here(_CONFIG.value, _KIND.value)))
      return
  for kind in ('train', 'forward'):
    cmd = [sys.executable, '-m', 'vit_jax.benchmarking', *sys.argv[1:],
           f'--kind={kind}']
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    if proc.returncode or not lines:
      err = proc.stderr.strip().splitlines() or ['no output']
      reason = next((l for l in reversed(err) if l.startswith('error: ')),
                    err[-1]).removeprefix('error: ')
      cli.fail(f'{kind} benchmark failed: {reason}',
               code=proc.returncode if proc.returncode > 0 else 1)
    row = json.loads(lines[-1][len('RESULT '):])
    if kind == 'train':
      print(f'machine: {row["cpu"]}', flush=True)
    print(report.format_row(row), flush=True)


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  app.run(main, flags_parser=lambda argv: cli.parse_flags(argv, _CONFIG))
