"""The jitted train step and prediction function, for any task and model."""

from typing import Callable

import flax.linen as nn
import jax
import optax
from jax.sharding import Mesh

from vit_jax.training import mesh as mesh_lib
from vit_jax.training.train_state import TrainState


def step_rngs(base_key: jax.Array, step: jax.Array,
              streams: tuple[str, ...]) -> dict[str, jax.Array]:
  """Keys of the named rng streams at `step`, a function of (seed, step).

  The first stream's key is fold_in(base, step) itself (what the dropout key
  has always been, so runs reproduce across versions); others fold in their
  position.
  """
  key = jax.random.fold_in(base_key, step)
  return {name: key if i == 0 else jax.random.fold_in(key, i)
          for i, name in enumerate(streams)}


def make_train_step(model: nn.Module, task, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, *, seed: int,
                    mesh: Mesh) -> Callable:
  """Returns jitted `(state, batch) -> (state, metrics)`.

  The loss and the task's metrics come from `task.loss_and_metrics`; this
  adds the optimizer update and `train/{loss, grad_norm, param_norm,
  learning_rate}`. Rng keys are derived from (seed, step), so a resumed run
  draws the same dropout masks as an uninterrupted one. The old state's
  buffers are donated.
  """
  base_key = jax.random.key(seed + 1)  # Not the init key.

  def train_step(state: TrainState, batch):
    rngs = step_rngs(base_key, state.step, task.rng_streams)

    def loss_fn(params):
      return task.loss_and_metrics(model, params, batch, rngs)

    (loss, task_metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {f'train/{k}': v for k, v in task_metrics.items()}
    metrics.update({
        'train/loss': loss,
        'train/grad_norm': optax.tree.norm(grads),
        'train/param_norm': optax.tree.norm(params),
        'train/learning_rate': schedule(state.step),
    })
    new_state = state.replace(step=state.step + 1, params=params,
                              opt_state=opt_state)
    return new_state, metrics

  return jax.jit(
      train_step,
      in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)),
      out_shardings=mesh_lib.replicated(mesh),
      donate_argnums=0)


def make_predict_fn(model: nn.Module, task) -> Callable:
  """Returns jitted `(params, batch) -> outputs`."""
  return jax.jit(lambda params, batch: task.predict(model, params, batch))
