"""The training state and its creation, already placed on the mesh."""

from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from vit_jax.training import mesh as mesh_lib
from vit_jax.training import sharding as sharding_lib


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


def _init_fn(model, tx, inputs, seed):
  def init():
    params = init_params(model, inputs, seed)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params))
  return init


def state_shardings(model, tx, inputs, seed, mesh: Mesh,
                    rules: Sequence[tuple[str, str]] = ()) -> TrainState:
  """Where each array of the state lives (vit_jax/training/sharding.py);
  no rules: everything replicated."""
  shapes = jax.eval_shape(_init_fn(model, tx, inputs, seed))
  return sharding_lib.tree_shardings(shapes, mesh, rules)


def create_train_state(model: nn.Module, tx: optax.GradientTransformation,
                       inputs: Sequence[jax.ShapeDtypeStruct], seed: int,
                       mesh: Mesh, shardings: TrainState | None = None
                       ) -> TrainState:
  """Initialises parameters and optimizer state, created already placed by
  `shardings` (`state_shardings`; default: replicated on `mesh`), so never
  whole on one device when sharded."""
  return jax.jit(_init_fn(model, tx, inputs, seed),
                 out_shardings=(mesh_lib.replicated(mesh) if shardings is None
                                else shardings))()


def abstract_train_state(model, tx, inputs, seed, mesh,
                         shardings: TrainState | None = None) -> TrainState:
  """Shapes, dtypes and shardings (default: replicated on `mesh`) of the
  state, for restoring checkpoints onto this mesh, whatever mesh saved them.
  """
  shapes = jax.eval_shape(_init_fn(model, tx, inputs, seed))
  if shardings is None:
    shardings = sharding_lib.tree_shardings(shapes, mesh, ())
  return jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
      shapes, shardings)


def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
