"""A dense layer whose weight gradient is laid out for fast CPU matmuls.

`Dense` has `flax.linen.Dense`'s parameters (`kernel` [in, out], `bias`
[out]) and values. Only its backward pass differs in form: the weight gradient
xᵀ g contracts the long row axis of both operands, and XLA:CPU computed it
with a slow fallback matmul (lhs contracted along its major axis). Here the
smaller of x and g is transposed explicitly (an optimisation barrier keeps XLA
from folding the transpose back into the matmul), so the product runs as a
plain row-major matmul in the fast library kernel: the MLP block's forward +
backward pass runs faster on a 2-core CPU (figures: docs/results.md).
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

_barrier = jax.lax.optimization_barrier


@jax.custom_vjp
def matmul(x: jax.Array, w: jax.Array) -> jax.Array:
  """x [m, k] @ w [k, n], with a row-major weight gradient (see module doc)."""
  return x @ w


def _matmul_fwd(x, w):
  return x @ w, (x, w)


def _matmul_bwd(residuals, g):
  x, w = residuals
  dx = g @ w.T
  k, n = w.shape
  if k <= n:  # x [m, k] is the smaller operand: dw = (xᵀ) g.
    dw = _barrier(x.T) @ g
  else:  # g [m, n] is: dw = (gᵀ x)ᵀ, the final transpose [n, k] is small.
    dw = _barrier(_barrier(g.T) @ x).T
  return dx, dw.astype(w.dtype)


matmul.defvjp(_matmul_fwd, _matmul_bwd)


class Dense(nn.Module):
  """`flax.linen.Dense` (same parameters and result), faster gradient on CPU.

  Attributes:
    cpu_tuned: use `matmul`'s CPU-tuned gradient; False: plain `x @ w`
      (vit_jax/models/kernel_forms.py).
  """
  features: int
  dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros
  cpu_tuned: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (x.shape[-1], self.features))
    bias = self.param('bias', self.bias_init, (self.features,))
    product = matmul if self.cpu_tuned else jnp.matmul
    y = product(x.reshape(-1, x.shape[-1]).astype(self.dtype),
                kernel.astype(self.dtype))
    return y.reshape(x.shape[:-1] + (self.features,)) + bias.astype(self.dtype)
