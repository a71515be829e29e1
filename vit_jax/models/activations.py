"""Activation functions with memory-lean gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@jax.custom_vjp
def gelu(x: jax.Array) -> jax.Array:
  """`nn.gelu` (tanh approximation) whose gradient keeps only its input.

  gelu(x) = x s(x) with s = (1 + tanh u) / 2, u = √(2/π) (x + 0.044715 x³).
  Autodiff kept x, tanh u and the output of the [tokens, mlp_dim] activation
  alive until the backward pass. Here the backward recomputes s in the
  logistic form 1 / (1 + exp(-2u)): a recomputed tanh would be merged with
  the forward's by XLA's CSE (which ignores remat on CPU) and kept alive.
  16 MiB less per block at n = 4097, mlp_dim 1024 (f32); same values.
  """
  return nn.gelu(x)


def _gelu_fwd(x):
  return nn.gelu(x), x


def _gelu_bwd(x, g):
  c = np.sqrt(2 / np.pi).astype(x.dtype)
  u = c * (x + 0.044715 * x**3)
  s = 1 / (1 + jnp.exp(-2 * u))  # (1 + tanh u) / 2.
  du = c * (1 + 3 * 0.044715 * x * x)
  # d/dx x s = s + x s' with s' = 2 s (1 - s) du.
  return (g * (s + 2 * x * s * (1 - s) * du),)


gelu.defvjp(_gelu_fwd, _gelu_bwd)
