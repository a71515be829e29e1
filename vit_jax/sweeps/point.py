r"""Runs one sweep point (a child process of the sweep runner).

  python -m vit_jax.sweeps.point --config_json=W/point_config.json --workdir=W

By the point's `config.mode`: 'train' trains and evaluates, 'benchmark'
measures `config.benchmark.kind` ('train' or 'forward') on random inputs.
Writes W/result.json with "status": "ok" and its figures; the runner records
failures (this process may die without a word, e.g. killed for memory).
"""

import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import ml_collections

_CONFIG_JSON = flags.DEFINE_string('config_json', None, 'Resolved config.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Point workdir.')
_MAX_MEMORY_GB = flags.DEFINE_float(
    'max_memory_gb', None, 'Refuse benchmarks whose XLA plan exceeds this.')
flags.mark_flags_as_required(['config_json', 'workdir'])

RESULT_FILE = 'result.json'


def attention_label(attention_config) -> str:
  """'full/einsum', 'linformer/k=64', ...: the variant and what sets it apart."""
  options = dict(attention_config)
  label = options.pop('name')
  if 'implementation' in options:
    label += f'/{options["implementation"]}'
  if 'k' in options:
    label += f'/k={options["k"]}'
  return label


def describe(config) -> dict:
  """What identifies a point in tables and plots; known before it runs."""
  p = config.model.patch_size
  return {'attention': attention_label(config.model.attention),
          'mode': config.mode,
          'kind': config.benchmark.kind if config.mode == 'benchmark' else '',
          'dataset': config.dataset,
          'image_size': config.image_size, 'patch_size': p,
          'tokens': (config.image_size // p)**2 + int(
              config.model.classifier == 'token'),
          'batch': config.batch_size}


def run_point(config, workdir: str, max_memory_bytes=None) -> dict:
  """Runs the point in this process and returns its result row."""
  start = time.time()
  row = describe(config)
  if config.mode == 'benchmark':
    from vit_jax.benchmarking import matmul_peak
    from vit_jax.benchmarking import step_benchmark
    row.update(step_benchmark.benchmark_step(
        config, config.benchmark.kind, steps_to_time=config.benchmark.steps,
        max_memory_bytes=max_memory_bytes).as_dict())
    row['matmul_flops_per_s'] = matmul_peak.matmul_flops_per_s()
    row['utilization'] = row['flops_per_s'] / row['matmul_flops_per_s']
  elif config.mode == 'train':
    from vit_jax.training import trainer
    final = trainer.train_and_evaluate(config, workdir)
    row.update({'test_accuracy': final['test/accuracy'],
                'test_loss': final['test/loss']})
  else:
    raise ValueError(f'sweep points run mode train or benchmark, not '
                     f'{config.mode!r}')
  row['wall_s'] = time.time() - start
  return row


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  with open(_CONFIG_JSON.value) as f:
    config = ml_collections.ConfigDict(json.load(f))
  limit = _MAX_MEMORY_GB.value
  row = run_point(config, _WORKDIR.value,
                  None if limit is None else int(limit * 2**30))
  row['status'] = 'ok'
  tmp = os.path.join(_WORKDIR.value, RESULT_FILE + '.tmp')
  with open(tmp, 'w') as f:
    json.dump(row, f, indent=1)
  os.replace(tmp, os.path.join(_WORKDIR.value, RESULT_FILE))


if __name__ == '__main__':
  app.run(main)
