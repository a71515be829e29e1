"""The jitted functions of training: train step, eval step, prediction."""

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from vit_jax.training import mesh as mesh_lib
from vit_jax.training.train_state import TrainState


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  label_smoothing: float = 0.0) -> jax.Array:
  """Per-example loss; logits [batch, classes], labels int [batch]."""
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def batch_cross_entropy(logits: jax.Array, batch,
                        label_smoothing: float = 0.0) -> jax.Array:
  """Per-example loss [batch] of a train batch.

  With mixup (keys 'label_mix' and 'mix_weight' w, vit_jax/data/mixup):
  w * CE(label) + (1 - w) * CE(label_mix), i.e. CE against the mixed target.
  """
  loss = cross_entropy(logits, batch['label'], label_smoothing)
  if 'label_mix' in batch:
    w = batch['mix_weight']
    loss = w * loss + (1 - w) * cross_entropy(logits, batch['label_mix'],
                                              label_smoothing)
  return loss


def make_train_step(model: nn.Module, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, *, seed: int,
                    label_smoothing: float, mesh: Mesh) -> Callable:
  """Returns jitted `(state, batch) -> (state, metrics)`.

  The dropout key is derived from (seed, step), so a resumed run draws the
  same masks as an uninterrupted one. The old state's buffers are donated.
  """
  base_key = jax.random.key(seed + 1)  # Not the init key.

  def train_step(state: TrainState, batch):
    key = jax.random.fold_in(base_key, state.step)

    def loss_fn(params):
      logits = model.apply({'params': params}, batch['image'], train=True,
                           rngs={'dropout': key})
      loss = batch_cross_entropy(logits, batch, label_smoothing).mean()
      return loss, logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        'train/loss': loss,
        'train/accuracy': jnp.mean(jnp.argmax(logits, -1) == batch['label']),
        'train/grad_norm': optax.tree.norm(grads),
        'train/param_norm': optax.tree.norm(params),
        'train/learning_rate': schedule(state.step),
    }
    new_state = state.replace(step=state.step + 1, params=params,
                              opt_state=opt_state)
    return new_state, metrics

  return jax.jit(
      train_step,
      in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)),
      out_shardings=mesh_lib.replicated(mesh),
      donate_argnums=0)


def make_eval_step(model: nn.Module, mesh: Mesh) -> Callable:
  """Returns jitted `(params, batch) -> sums` over a padded eval batch.

  `batch['mask']` is 1 for real examples and 0 for padding; sums (not means)
  are returned so that the caller can add them across batches exactly.
  """

  def eval_step(params, batch):
    logits = model.apply({'params': params}, batch['image'], train=False)
    mask = batch['mask']
    correct = jnp.argmax(logits, -1) == batch['label']
    return {
        'loss_sum': jnp.sum(cross_entropy(logits, batch['label']) * mask),
        'correct_sum': jnp.sum(correct * mask),
        'count': jnp.sum(mask),
    }

  return jax.jit(
      eval_step,
      in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)),
      out_shardings=mesh_lib.replicated(mesh))


def make_predict_fn(model: nn.Module) -> Callable:
  """Returns jitted `(params, images) -> logits`."""
  return jax.jit(
      lambda params, images: model.apply({'params': params}, images,
                                         train=False))
