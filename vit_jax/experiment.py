"""Runs what a config's `mode` asks for: the one place that dispatches modes.

  'train'      train_and_evaluate (resuming from the workdir);
  'predict'    with config.predict_inputs: the top classes of image files
               (vit_jax/inference/predict_files.py), else one timed forward
               pass on random images (both read the workdir only);
  'eval'       loss and accuracy of the workdir's latest checkpoint (or
               init_from) on config.eval_split, appended to its metrics
               (vit_jax/inference/evaluate.py);
  'benchmark'  times `config.benchmark.kind` ('train' or 'forward') on random
               inputs (no workdir).

launch.py, the sweep point job and the benchmark CLI all call `run`. Sweeps
(`config.sweep`) are launch.py's business: a sweep runs many of these.
"""

from typing import Any

from vit_jax.errors import ConfigError


def run(config, workdir: str, *, max_memory_bytes: int | None = None
        ) -> dict[str, Any]:
  """Validates `config`, runs its mode and returns the result's figures.

  Args:
    config: the experiment config.
    workdir: the run's directory (unused by benchmarks).
    max_memory_bytes: benchmarks whose XLA memory plan exceeds this are
      refused (MemoryError) before they run.

  Returns:
    'train': the final metrics of every evaluation, keys with '/' as '_'
    (`test_accuracy`, `test_loss`, ...), plus `summary_metric` and its
    value as `summary`. 'benchmark': the step's figures, the machine's
    matmul FLOP/s and its CPU model and ISA (`cpu`). 'predict': {} (it
    prints its lines). 'eval': the metrics, keys with '/' as '_'.

  Raises:
    ConfigError: a bad config or workdir (one line).
  """
  from vit_jax.training import config_validation
  config_validation.validate(config)
  if config.mode == 'train':
    from vit_jax.training import trainer
    final = trainer.train_and_evaluate(config, workdir)
    row = {k.replace('/', '_'): v for k, v in final.items()}
    row.update(summary_metric=config.summary_metric,
               summary=final[config.summary_metric])
    return row
  if config.mode == 'predict':
    if config.get('predict_inputs'):  # Image files -> top classes.
      from vit_jax.inference import predict_files
      predict_files.predict_files(config, workdir)
      return {}
    from vit_jax.training import trainer
    trainer.predict(config, workdir)  # Random images: one timed pass.
    return {}
  if config.mode == 'eval':
    from vit_jax.inference import evaluate
    metrics = evaluate.evaluate(config, workdir)
    return {k.replace('/', '_'): v for k, v in metrics.items()}
  if config.mode == 'benchmark':
    from vit_jax.benchmarking import matmul_peak
    from vit_jax.benchmarking import step_benchmark
    from vit_jax.runtime import cpu_info
    row = step_benchmark.benchmark_step(
        config, config.benchmark.kind, steps_to_time=config.benchmark.steps,
        max_memory_bytes=max_memory_bytes).as_dict()
    row['matmul_flops_per_s'] = matmul_peak.matmul_flops_per_s()
    row['utilization'] = row['model_flops_per_s'] / row['matmul_flops_per_s']
    row['cpu'] = cpu_info.describe()  # Figures differ by CPU model and ISA.
    return row
  raise ConfigError(f'config.mode={config.mode!r}: unknown mode')
