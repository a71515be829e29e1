"""Training and prediction from a config: the functions launch.py calls."""

import dataclasses
import math
import statistics
import time
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import optax
from jax.sharding import Mesh

from vit_jax import models
from vit_jax.data import input_pipeline
from vit_jax.training import checkpointing
from vit_jax.training import config_checks
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import optimizer as optimizer_lib
from vit_jax.training import steps
from vit_jax.training import train_state
from vit_jax.training import workdir as workdir_lib
from vit_jax.training.metrics_log import MetricsLogger


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything about a run that is fixed before the first step."""
  config: Any
  workdir: str
  info: input_pipeline.DatasetInfo
  model: nn.Module
  mesh: Mesh
  total_steps: int
  schedule: optax.Schedule
  tx: optax.GradientTransformation


def _total_steps(config, num_train: int) -> int:
  if config.total_steps is not None:
    return int(config.total_steps)
  steps_per_epoch = max(1, num_train // config.batch_size)
  return max(1, math.ceil(config.total_epochs * steps_per_epoch))


def prepare_run(config, workdir: str) -> Run:
  """Checks the config and the workdir; touches nothing if either is wrong.

  Raises:
    ConfigError: with a one-line message.
  """
  config_checks.check_training_fields(
      config, device_count=jax.device_count(),
      process_count=jax.process_count())
  try:
    info = input_pipeline.dataset_info(config)
  except ValueError as e:
    raise config_checks.ConfigError(str(e)) from None
  if info.num_classes != config.num_classes:
    raise config_checks.ConfigError(
        f'num_classes={config.num_classes} but dataset {config.dataset!r} has '
        f'{info.num_classes} classes')
  model = models.get_model(config.model, config.num_classes)
  config_checks.check_model(config, model, info.image_shape)
  workdir_lib.prepare(workdir, config, is_writer=jax.process_index() == 0)

  total = _total_steps(config, info.num_train)
  schedule = optimizer_lib.learning_rate_schedule(config.lr, total)
  return Run(config=config, workdir=workdir, info=info, model=model,
             mesh=mesh_lib.make_mesh(), total_steps=total, schedule=schedule,
             tx=optimizer_lib.make_optimizer(config, schedule))


def restore_or_create_state(run: Run, ckpt: checkpointing.Checkpointer):
  """The latest checkpoint in the workdir, or a freshly initialised state."""
  args = (run.model, run.tx, run.info.image_shape, run.config.seed, run.mesh)
  if ckpt.latest_step() is None:
    return train_state.create_train_state(*args)
  try:
    return ckpt.restore(train_state.abstract_train_state(*args))
  except Exception as e:  # Orbax raises several types for a tree mismatch.
    raise config_checks.ConfigError(
        f'checkpoint {ckpt.latest_step()} in {run.workdir} does not fit this '
        f'model ({type(e).__name__}); use a new --workdir') from None


def evaluate(run: Run, eval_step, params) -> dict[str, float]:
  """Loss and accuracy over the whole test split (padding excluded)."""
  totals = None
  for local_batch in input_pipeline.eval_batches(
      run.config, split='test',
      process_index=jax.process_index(), process_count=jax.process_count()):
    sums = eval_step(params, mesh_lib.shard_batch(local_batch, run.mesh))
    totals = sums if totals is None else jax.tree.map(np.add, totals, sums)
  totals = jax.device_get(totals)
  count = float(totals['count'])
  return {'test/loss': float(totals['loss_sum']) / count,
          'test/accuracy': float(totals['correct_sum']) / count,
          'test/count': count}


def _mean_metrics(pending: list[dict[str, Any]]) -> dict[str, float]:
  fetched = jax.device_get(pending)
  return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
  """Trains (resuming from the workdir if possible) and returns final metrics."""
  run = prepare_run(config, workdir)
  is_writer = jax.process_index() == 0
  log = MetricsLogger(workdir, total_steps=run.total_steps, is_writer=is_writer)
  ckpt = checkpointing.Checkpointer(
      workdir, every_steps=config.checkpoint_every_steps,
      max_to_keep=config.max_to_keep)
  state = restore_or_create_state(run, ckpt)
  start = int(jax.device_get(state.step))
  log.info(f'model: {train_state.count_params(state.params):,} parameters, '
           f'{run.mesh.size} device(s), {run.total_steps} steps'
           + (f', resumed from step {start}' if start else ''))

  train_step = steps.make_train_step(
      run.model, run.tx, run.schedule, seed=config.seed,
      label_smoothing=config.label_smoothing, mesh=run.mesh)
  eval_step = steps.make_eval_step(run.model, run.mesh)
  batches = input_pipeline.train_batches(
      config, start_step=start, process_index=jax.process_index(),
      process_count=jax.process_count())

  pending, timer = [], (time.time(), start)
  for step in range(start + 1, run.total_steps + 1):
    state, metrics = train_step(state, mesh_lib.shard_batch(next(batches),
                                                            run.mesh))
    pending.append(metrics)
    if step == start + 1:  # Keep compilation out of the throughput figure.
      jax.block_until_ready(state)
      log.info(f'first step (with compilation) took {time.time() - timer[0]:.1f} s')
      timer = (time.time(), step)
    if step % config.log_every_steps == 0 or step == run.total_steps:
      row = _mean_metrics(pending)
      elapsed, done = time.time() - timer[0], step - timer[1]
      if done:
        row['train/images_per_s'] = done * config.batch_size / elapsed
      log.write(step, row)
      log.progress(step, row)
      pending, timer = [], (time.time(), step)
    if step % config.eval_every_steps == 0 or step == run.total_steps:
      final = evaluate(run, eval_step, state.params)
      log.write(step, final)
    ckpt.maybe_save(step, state, force=step == run.total_steps)

  if start == run.total_steps:  # Nothing left to train: report the result.
    final = evaluate(run, eval_step, state.params)
    log.write(start, final)
  ckpt.close()
  log.close()
  log.info(f'final test accuracy {final["test/accuracy"]:.4f} '
           f'({int(round(final["test/accuracy"] * final["test/count"]))}/'
           f'{int(final["test/count"])}) at step {run.total_steps}; '
           f'workdir {workdir}')
  return final


def predict(config, workdir: str, *, repeats: int = 3) -> np.ndarray:
  """One forward pass on random images of the config's shape; times it.

  Uses the workdir's latest checkpoint if there is one, else fresh weights.
  Returns the logits [batch, num_classes].
  """
  run = prepare_run(config, workdir)
  ckpt = checkpointing.Checkpointer(workdir, every_steps=1, max_to_keep=1)
  params = restore_or_create_state(run, ckpt).params
  batch = config.predict_batch_size
  images = np.random.default_rng(config.seed).normal(
      size=(batch,) + tuple(run.info.image_shape)).astype(np.float32)
  forward = steps.make_predict_fn(run.model)
  t0 = time.time()
  logits = jax.block_until_ready(forward(params, images))
  compile_s = time.time() - t0
  times = []
  for _ in range(repeats):
    t0 = time.time()
    jax.block_until_ready(forward(params, images))
    times.append(time.time() - t0)
  p = config.model.patch_size
  tokens = (images.shape[1] // p) * (images.shape[2] // p)
  print(f'predict: {batch} image(s) {"x".join(map(str, images.shape[1:]))} '
        f'-> {tokens} patches, logits {list(logits.shape)}; first call '
        f'(with compilation) {compile_s:.2f} s, forward median '
        f'{statistics.median(times):.3f} s over {repeats}; top classes '
        f'{np.argmax(logits, -1).tolist()}', flush=True)
  ckpt.close()
  return np.asarray(logits)
