"""One sweep point: what identifies it in tables, and its result row.

A point runs as its own process, `python -m vit_jax.sweeps.point_job`
(vit_jax/sweeps/point_job.py), which writes the row to WORKDIR/result.json.
"""

import time

RESULT_FILE = 'result.json'


def attention_label(model_config) -> str:
  """'full/einsum', 'linformer/k=64', ...: the variant and what sets it apart
  ('' for a model without attention options)."""
  if 'attention' not in model_config:
    return ''
  if model_config.get('use_attention', True) is False:
    return 'none'  # A model's no-attention baseline (e.g. seq2seq).
  options = dict(model_config.attention)
  label = options.pop('name')
  if 'implementation' in options:
    label += f'/{options["implementation"]}'
  if 'k' in options:
    label += f'/k={options["k"]}'
  return label


def describe(config) -> dict:
  """What identifies a point in tables and plots; known before it runs."""
  from vit_jax.models import sizes
  model = config.model
  p = model.get('patch_size')
  return {'model': model.get('name', 'vit'),
          'attention': attention_label(model),
          'mode': config.mode,
          'kind': config.benchmark.kind if config.mode == 'benchmark' else '',
          'dataset': config.dataset,
          'image_size': config.image_size, 'patch_size': p,
          'tokens': sizes.num_tokens(config.image_size, p,
                                    model.get('classifier', 'token'))
                    if p else None,
          'batch': config.batch_size}


def summary_of(row: dict) -> tuple[str | None, float | None]:
  """(metric name, value) a row reports; rows written before
  config.summary_metric existed report their test accuracy."""
  if 'summary_metric' in row:
    return row['summary_metric'], row.get('summary')
  if 'test_accuracy' in row:
    return 'test/accuracy', row['test_accuracy']
  return None, None


def result_row(config, workdir: str, max_memory_bytes=None) -> dict:
  """Runs the point in this process; returns its row (identity + figures)."""
  from vit_jax import experiment
  start = time.time()
  figures = experiment.run(config, workdir, max_memory_bytes=max_memory_bytes)
  return {**describe(config), **figures, 'wall_s': time.time() - start}
