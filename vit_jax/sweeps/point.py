"""One sweep point: what identifies it, and running it in this process.

By the point's `config.mode`: 'train' trains and evaluates, 'benchmark'
measures `config.benchmark.kind` ('train' or 'forward') on random inputs.
The sweep runner runs each point as `python -m vit_jax.sweeps.run_point`.
"""

import time

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
  from vit_jax.training import config_validation
  config_validation.validate(config)
  row = describe(config)
  if config.mode == 'benchmark':
    from vit_jax.benchmarking import matmul_peak
    from vit_jax.benchmarking import step_benchmark
    row.update(step_benchmark.benchmark_step(
        config, config.benchmark.kind, steps_to_time=config.benchmark.steps,
        max_memory_bytes=max_memory_bytes).as_dict())
    row['matmul_flops_per_s'] = matmul_peak.matmul_flops_per_s()
    row['utilization'] = (row['model_flops_per_s'] /
                          row['matmul_flops_per_s'])
  elif config.mode == 'train':
    from vit_jax.training import trainer
    final = trainer.train_and_evaluate(config, workdir)
    row.update({'test_accuracy': final['test/accuracy'],
                'test_loss': final['test/loss']})
  else:
    from vit_jax.errors import ConfigError
    raise ConfigError(f'sweep points run mode train or benchmark, not '
                      f'{config.mode!r}')
  row['wall_s'] = time.time() - start
  return row
