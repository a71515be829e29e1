"""A finished (or running) run, loaded for pictures: its model, task,
latest parameters and test images. Reads the workdir only."""

import dataclasses
from typing import Any

import numpy as np

from vit_jax import models
from vit_jax import tasks
from vit_jax.data import input_pipeline
from vit_jax.training import trainer


@dataclasses.dataclass(frozen=True)
class TrainedRun:
  """Attributes: config (the run's saved config), model, task, params (the
  latest checkpoint's), step (its step)."""
  config: Any
  model: Any
  task: tasks.Task
  params: Any
  step: int


def load(workdir: str) -> TrainedRun:
  """The run in `workdir` at its latest checkpoint.

  Raises:
    ConfigError: no run or no checkpoint there (one line).
  """
  config, state = trainer.load_state(workdir)  # The trainer's own loading.
  task = tasks.make_task(config)
  info = input_pipeline.dataset_info(config)
  model = models.get_model(config.model, **task.model_kwargs(info))
  return TrainedRun(config=config, model=model, task=task,
                    params=state.params, step=int(state.step))


def test_batch(run: TrainedRun, count: int) -> dict[str, np.ndarray]:
  """The first `count` test examples as the model sees them (eval ops)."""
  config = run.config.copy_and_resolve_references()
  config.eval_batch_size = count
  batch = next(iter(input_pipeline.eval_batches(config)))
  real = batch['mask'] > 0
  return {k: v[real] for k, v in batch.items()}
