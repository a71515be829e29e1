"""The interface of a task: what the one trainer asks of whatever it trains.

A task owns everything that depends on what is being learned, so the trainer,
the evaluators and the benchmarks never read a batch key or a loss by name:

  - how the data shapes the model (`model_kwargs`: e.g. the number of
    classes) and example inputs to initialise it (`init_inputs`);
  - the loss and train metrics of a batch, with the named rng streams the
    model needs (`loss_and_metrics`, `rng_streams`);
  - evaluation as sums over examples, added across batches and hosts, and the
    metrics made from them (`eval_sums`, `eval_metrics`);
  - random batches of the right shapes for benchmarks and `mode=predict`
    (`random_batch`), and a one-line account of a prediction (`describe`);
  - the throughput unit (`unit`: 'images', 'tokens', ...).

Batches are dicts of arrays with a leading batch axis; eval batches carry
`mask` (1 for real examples, 0 for padding).
"""

import abc
from typing import Any, Mapping

import flax.linen as nn
import jax
import numpy as np

Batch = Mapping[str, Any]


class Task(abc.ABC):
  """Base class of tasks; subclasses are registered in vit_jax.tasks.

  Attributes:
    unit: what `train/<unit>_per_s` counts, one per example.
    rng_streams: names of the random streams the model draws from in training
      (flax `rngs`); each step gets keys derived from (seed, step).
    metric_names: the metrics `eval_metrics` returns (besides `count`); the
      first is the one a config's `summary_metric` names by default.
  """
  unit: str = 'examples'
  rng_streams: tuple[str, ...] = ('dropout',)
  metric_names: tuple[str, ...] = ('loss',)

  def __init__(self, config):
    """Reads the task's fields of the experiment config."""
    self.config = config

  def check(self, info) -> None:
    """Raises ValueError (one line) if the dataset does not fit the task."""
    del info

  def model_kwargs(self, info) -> dict[str, Any]:
    """Arguments the data gives the model beyond its config section."""
    del info
    return {}

  @abc.abstractmethod
  def init_inputs(self, info) -> tuple[jax.ShapeDtypeStruct, ...]:
    """Positional model inputs of one example (batch 1), shapes only."""

  @abc.abstractmethod
  def random_batch(self, info, batch_size: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A train batch of random values with the dataset's shapes."""

  @abc.abstractmethod
  def loss_and_metrics(self, model: nn.Module, params, batch: Batch,
                       rngs: dict[str, jax.Array]
                       ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean train loss (scalar) and train metrics of a batch (in jit)."""

  @abc.abstractmethod
  def eval_sums(self, model: nn.Module, params,
                batch: Batch) -> dict[str, jax.Array]:
    """Sums over the real examples of an eval batch (in jit); has `count`."""

  @abc.abstractmethod
  def eval_metrics(self, sums: Mapping[str, float]) -> dict[str, float]:
    """Metrics from the sums of a whole split; keeps `count`."""

  def predict(self, model: nn.Module, params, batch: Batch) -> jax.Array:
    """The model's outputs for a batch (in jit)."""
    return model.apply({'params': params}, *self.model_inputs(batch),
                       train=False)

  @abc.abstractmethod
  def model_inputs(self, batch: Batch) -> tuple[Any, ...]:
    """The positional model inputs held by a batch."""

  def describe(self, batch: Batch, outputs: np.ndarray) -> str:
    """One line about a prediction, for `mode=predict`."""
    del batch
    return f'outputs {list(outputs.shape)}'
