"""The jitted train step and prediction function, for any task and model."""

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, PartitionSpec as P

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


def _micro_batch_mean(task, model, params, batch, rngs, accum_steps: int):
  """((loss, metrics), grads) averaged over `accum_steps` micro-batches of
  `batch`, run one after the other (optax.microbatching; rows i, i + k, ...
  form micro-batch i).

  `batch['_row']` holds each row's index in the global batch: micro-batch m
  draws dropout keys folded with its first row, so micro-batches get
  different masks.
  """

  def micro(mb):
    mb = dict(mb)
    first_row = mb.pop('_row')[0]
    keys = {n: jax.random.fold_in(k, first_row) for n, k in rngs.items()}
    return jax.value_and_grad(
        lambda p: task.loss_and_metrics(model, p, mb, keys),
        has_aux=True)(params)

  rows = jax.tree.leaves(batch)[0].shape[0]
  return optax.microbatching.microbatch(
      micro, argnums=0, microbatch_size=rows // accum_steps,
      accumulator=optax.microbatching.AccumulationType.MEAN)(batch)


def _accumulated_gradient(task, model, mesh: Mesh, accum_steps: int):
  """`(params, batch, rngs) -> ((loss, metrics), grads)` over `accum_steps`
  micro-batches, the mean of their gradients.

  Each device loops over micro-batches of its own shard of the batch (rows
  i, i + k, ... of it: optax.microbatching's column-major split) and keeps
  its partial gradient; one all-reduce averages them after the loop. (Under
  plain jit the gradient of replicated parameters is all-reduced inside the
  loop, k times per step.)
  """
  axis = mesh.axis_names

  def local(params, batch, rngs):
    # Varying per device: the gradient stays a per-device partial sum.
    params = jax.lax.pcast(params, axis, to='varying')
    out = _micro_batch_mean(task, model, params, batch, rngs, accum_steps)
    return jax.lax.pmean(out, axis)  # The one all-reduce of the step.

  def grad_fn(params, batch, rngs):
    rows = jax.tree.leaves(batch)[0].shape[0]
    batch = dict(batch, _row=jax.lax.with_sharding_constraint(
        jnp.arange(rows), mesh_lib.batch_sharded(mesh)))
    return jax.shard_map(local, mesh=mesh, in_specs=(P(), P(axis), P()),
                         out_specs=P())(params, batch, rngs)

  return grad_fn


def _sharded_accumulated_gradient(task, model, accum_steps: int):
  """Like `_accumulated_gradient`, under plain jit (for sharded params)."""

  def grad_fn(params, batch, rngs):
    rows = jax.tree.leaves(batch)[0].shape[0]
    return _micro_batch_mean(task, model, params,
                             dict(batch, _row=jnp.arange(rows)), rngs,
                             accum_steps)

  return grad_fn


def make_train_step(model: nn.Module, task, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, *, seed: int, mesh: Mesh,
                    accum_steps: int = 1, state_sharding=None) -> Callable:
  """Returns jitted `(state, batch) -> (state, metrics)`.

  The loss and the task's metrics come from `task.loss_and_metrics`; this
  adds the optimizer update and `train/{loss, grad_norm, param_norm,
  learning_rate}`. Rng keys are derived from (seed, step), so a resumed run
  draws the same dropout masks as an uninterrupted one. The old state's
  buffers are donated.

  Args:
    model: the flax module.
    task: its task (vit_jax.tasks).
    tx: the optimizer.
    schedule: the learning rate schedule (for the logged value).
    seed: the run's seed.
    mesh: the device mesh; batches are sharded over all its axes.
    accum_steps: micro-batches per step (config.grad_accum_steps): the
      gradient is their mean, computed one after the other to save memory.
    state_sharding: where the state's arrays live (train_state.
      state_shardings; default: replicated); the new state stays there.
  """
  base_key = jax.random.key(seed + 1)  # Not the init key.
  sharded = state_sharding is not None and any(
      any(axis is not None for axis in sh.spec)
      for sh in jax.tree.leaves(state_sharding.params))
  if accum_steps > 1 and sharded:
    # FSDP: shard_map would gather the whole parameters for the step. Under
    # plain jit XLA keeps them sharded and reduce-scatters each
    # micro-batch's gradient (k collectives per step instead of one).
    grad_fn = _sharded_accumulated_gradient(task, model, accum_steps)
  elif accum_steps > 1:
    grad_fn = _accumulated_gradient(task, model, mesh, accum_steps)
  else:
    def grad_fn(params, batch, rngs):
      return jax.value_and_grad(
          lambda p: task.loss_and_metrics(model, p, batch, rngs),
          has_aux=True)(params)

  def train_step(state: TrainState, batch):
    rngs = step_rngs(base_key, state.step, task.rng_streams)
    (loss, task_metrics), grads = grad_fn(state.params, batch, rngs)
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

  state_sharding = state_sharding or mesh_lib.replicated(mesh)
  return jax.jit(
      train_step,
      in_shardings=(state_sharding, mesh_lib.batch_sharded(mesh)),
      out_shardings=(state_sharding, mesh_lib.replicated(mesh)),
      donate_argnums=0)


def make_predict_fn(model: nn.Module, task, mesh: Mesh | None = None
                    ) -> Callable:
  """Returns jitted `(params, batch) -> outputs`; with `mesh`, the outputs
  are replicated (readable on every process, whatever the params' sharding).
  """
  return jax.jit(lambda params, batch: task.predict(model, params, batch),
                 out_shardings=mesh_lib.replicated(mesh) if mesh else None)
