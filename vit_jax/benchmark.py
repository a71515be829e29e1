r"""Prints training and inference speed and memory of any config.

  python -m vit_jax.benchmark --config=configs/catsdogs.py:linformer

Measures the compiled train step and forward pass on random inputs of the
config's shape (batch `config.batch_size`), each in its own subprocess so that
peak RSS is per kind, and the machine's dense f32 matmul FLOP/s for scale.
"""

import json
import subprocess
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_KIND = flags.DEFINE_enum('kind', None, ['train', 'forward'],
                          'Measure only this (in this process).')
_STEPS = flags.DEFINE_integer('steps', 5, 'Timed steps after one warm-up.')
flags.mark_flag_as_required('config')


def _measure_here(config, kind: str) -> dict:
  from vit_jax.benchmarking import matmul_peak
  from vit_jax.benchmarking import step_benchmark
  row = step_benchmark.benchmark_step(config, kind,
                                      steps_to_time=_STEPS.value).as_dict()
  row['matmul_flops_per_s'] = matmul_peak.matmul_flops_per_s()
  return row


def _report(row: dict) -> str:
  gib = 2**30
  return (f'{row["kind"]:>7}: {row["images_per_s"]:8.1f} images/s '
          f'(step median {row["step_s_median"] * 1e3:.1f} ms, min '
          f'{row["step_s_min"] * 1e3:.1f}, max {row["step_s_max"] * 1e3:.1f}; '
          f'batch {row["batch"]}, {row["tokens"]} tokens), compile '
          f'{row["compile_s"]:.1f} s, XLA memory '
          f'{row["xla_memory_bytes"] / gib:.2f} GiB, peak RSS '
          f'{row["peak_rss_bytes"] / gib:.2f} GiB, '
          f'{row["flops_per_s"] / 1e9:.1f} GFLOP/s = '
          f'{row["flops_per_s"] / row["matmul_flops_per_s"]:.0%} of matmul '
          f'peak {row["matmul_flops_per_s"] / 1e9:.0f}')


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if _KIND.value:  # Child: measure one kind, print one JSON line.
    print('RESULT ' + json.dumps(_measure_here(_CONFIG.value, _KIND.value)))
    return
  for kind in ('train', 'forward'):
    cmd = [sys.executable, '-m', 'vit_jax.benchmark', *sys.argv[1:],
           f'--kind={kind}']
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    if proc.returncode or not lines:
      err = (proc.stderr.strip().splitlines() or ['no output'])[-1]
      print(f'{kind:>7}: failed: {err}', file=sys.stderr)
      sys.exit(1)
    print(_report(json.loads(lines[-1][len('RESULT '):])), flush=True)


if __name__ == '__main__':
  app.run(main)
