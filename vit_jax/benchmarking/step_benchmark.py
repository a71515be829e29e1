"""Times the train step or the forward pass of a config on random inputs.

No input pipeline and no checkpoints: this measures the compiled step alone,
the number a sweep over sequence lengths compares.
"""

import dataclasses
import statistics
import time
from typing import Any

import jax
import numpy as np

from vit_jax import models
from vit_jax import tasks
from vit_jax.benchmarking import model_flops
from vit_jax.benchmarking import step_memory
from vit_jax.data import input_pipeline
from vit_jax.runtime import process_memory
from vit_jax.training import config_checks
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import optimizer as optimizer_lib
from vit_jax.training import steps
from vit_jax.training import train_state

KINDS = ('train', 'forward')


@dataclasses.dataclass(frozen=True)
class StepBenchmark:
  """One measured step; see `RESULT_COLUMNS` in the sweep for meanings."""
  kind: str
  batch: int
  tokens: int
  num_params: int
  compile_s: float
  step_s_median: float
  step_s_min: float
  step_s_max: float
  images_per_s: float
  tokens_per_s: float
  xla_flops_per_step: float  # XLA cost analysis: loop bodies counted once.
  model_flops_per_step: float  # Matmul FLOPs by definition (model_flops.py).
  model_flops_per_s: float
  xla_memory_bytes: int  # Arguments + outputs + temporaries - aliased.
  # Peak RSS while the steps ran, above the RSS before them (after compiling,
  # state in memory): includes what library fusions allocate outside XLA's
  # plan (step_memory.py). None where /proc is missing.
  step_rss_bytes: int | None
  peak_rss_bytes: int  # Of the whole process, compilation included.

  def as_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def xla_memory_bytes(compiled) -> int:
  m = compiled.memory_analysis()
  return int(m.argument_size_in_bytes + m.output_size_in_bytes +
             m.temp_size_in_bytes - m.alias_size_in_bytes)


def build_step(config, kind: str, image_shape=None):
  """Returns (jitted step, its args, tokens, num_params, model FLOPs).

  Args:
    config: an experiment config.
    kind: 'train' or 'forward'.
    image_shape: [height, width, channels] of the random inputs; default the
      dataset's (config.image_size square).
  """
  task = tasks.make_task(config)
  info = input_pipeline.dataset_info(config)
  if image_shape is not None:
    info = dataclasses.replace(info, image_shape=tuple(image_shape))
  model = models.get_model(config.model, **task.model_kwargs(info))
  inputs = task.init_inputs(info)
  # Shape errors (heads not dividing the width, too long for Linformer's
  # max_length) as one-line ConfigErrors, before any compilation.
  config_checks.check_model(model, inputs)
  # The run's mesh and placements, so memory figures are the run's.
  mesh = config_checks.checked_mesh(config)
  schedule = optimizer_lib.learning_rate_schedule(config.lr, 1000)
  tx = optimizer_lib.make_optimizer(config, schedule)
  shardings = train_state.state_shardings(model, tx, inputs, config.seed,
                                          mesh, config.sharding_rules)
  state = train_state.create_train_state(model, tx, inputs, config.seed, mesh,
                                         shardings)
  batch = task.random_batch(info, config.batch_size,
                            np.random.default_rng(config.seed))
  batch = mesh_lib.shard_batch(batch, mesh)
  example_shape = inputs[0].shape[1:]
  length = getattr(model, 'sequence_length', None)
  tokens = length(example_shape) if length else 0
  num_params = train_state.count_params(state.params)
  flops = model_flops.step_flops(model, inputs, config.batch_size, kind)
  if kind == 'train':
    step = steps.make_train_step(
        model, task, tx, schedule, seed=config.seed, mesh=mesh,
        accum_steps=config.grad_accum_steps,
        state_sharding=shardings)
    return step, (state, batch), tokens, num_params, flops
  forward = steps.make_predict_fn(model, task, mesh)
  return forward, (state.params, batch), tokens, num_params, flops


def benchmark_step(config, kind: str, *, steps_to_time: int = 5,
                   max_memory_bytes: int | None = None) -> StepBenchmark:
  """Compiles and times `kind` ('train' or 'forward') for `config`.

  Args:
    config: an experiment config (its batch_size, model, image_size).
    kind: 'train' (forward + backward + optimizer update) or 'forward'.
    steps_to_time: timed steps after one warm-up step.
    max_memory_bytes: refuse to run (MemoryError) when XLA's memory plan
      exceeds this, instead of letting the machine swap or the kernel kill us.

  Returns:
    The measurements.
  """
  if kind not in KINDS:
    raise ValueError(f'unknown benchmark kind {kind!r}; known: {KINDS}')
  fn, args, tokens, num_params, flops = build_step(config, kind)
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  compile_s = time.perf_counter() - start
  memory = xla_memory_bytes(compiled)
  if max_memory_bytes is not None and memory > max_memory_bytes:
    raise MemoryError(f'XLA needs {memory / 2**30:.1f} GiB, over the limit of '
                      f'{max_memory_bytes / 2**30:.1f} GiB')
  xla_flops = float(compiled.cost_analysis().get('flops', float('nan')))

  times = []
  # Read before rss_growth resets the kernel's peak mark (which ru_maxrss
  # reports too): the compilation's peak must still count.
  peak_before_steps = process_memory.max_rss_bytes()
  with step_memory.rss_growth() as growth:
    for i in range(steps_to_time + 1):
      start = time.perf_counter()
      out = compiled(*args)
      jax.block_until_ready(out)
      if i:  # The first call warms caches and allocators.
        times.append(time.perf_counter() - start)
      if kind == 'train':
        args = (out[0],) + args[1:]  # The old state was donated.
  median = statistics.median(times)
  images_per_s = config.batch_size / median
  return StepBenchmark(
      kind=kind, batch=config.batch_size, tokens=tokens,
      num_params=num_params, compile_s=compile_s, step_s_median=median,
      step_s_min=min(times), step_s_max=max(times),
      images_per_s=images_per_s, tokens_per_s=images_per_s * tokens,
      xla_flops_per_step=xla_flops, model_flops_per_step=flops,
      model_flops_per_s=flops / median,
      xla_memory_bytes=memory, step_rss_bytes=growth.bytes,
      peak_rss_bytes=max(peak_before_steps, process_memory.max_rss_bytes()))
