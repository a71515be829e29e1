"""The training state and its creation, already placed on the mesh."""

from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from vit_jax.training import mesh as mesh_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar: optimizer steps taken.
  params: Any
  opt_state: Any


def init_params(model: nn.Module, inputs: Sequence[jax.ShapeDtypeStruct],
                seed: int):
  """Initial parameters for model inputs shaped like `inputs`.

  Args:
    model: the flax module.
    inputs: the positional model inputs of one example (`task.init_inputs`):
      shapes and dtypes; zeros of them are what the model sees.
    seed: the init key's seed.
  """
  zeros = [jnp.zeros(x.shape, x.dtype) for x in inputs]
  return model.init(jax.random.key(seed), *zeros, train=False)['params']


def create_train_state(model: nn.Module, tx: optax.GradientTransformation,
                       inputs: Sequence[jax.ShapeDtypeStruct], seed: int,
                       mesh: Mesh) -> TrainState:
  """Initialises parameters and optimizer state, replicated on `mesh`."""

  def init():
    params = init_params(model, inputs, seed)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params))

  return jax.jit(init, out_shardings=mesh_lib.replicated(mesh))()


def abstract_train_state(model, tx, inputs, seed, mesh) -> TrainState:
  """Shapes, dtypes and shardings of the state, for restoring checkpoints."""
  shapes = jax.eval_shape(
      lambda: create_train_state(model, tx, inputs, seed, mesh))
  sharding = mesh_lib.replicated(mesh)
  return jax.tree.map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
      shapes)


def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
