"""Linformer attention (Wang et al. 2020): keys and values projected n -> k.

head_i = softmax(Q_i (E K_i)ᵀ / √d) (F V_i), where E, F are [k, n] maps along
the sequence axis, so the cost is O(n·k) instead of O(n²).

Sharing modes (the paper's section 4):
  none:      a separate E and F for every head of every layer.
  headwise:  one E and one F per layer, shared by its heads.
  kv:        one matrix per layer used as both E and F.
  layerwise: one matrix for all layers and heads, as E and F; its parameter
             lives once, in the encoder (see `make_shared`).

Padding: padded key/value rows are zeroed *before* the projection, so the
output at real tokens does not depend on what padded tokens hold.
"""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.attention import registry
from vit_jax.attention import softmax_core
from vit_jax.attention.multihead import MultiHeadAttention

SHARING_MODES = ('none', 'headwise', 'kv', 'layerwise')


class SequenceProjection(nn.Module):
  """Projects [batch, n, heads, head_dim] to [batch, k, heads, head_dim].

  The kernel is [max_length, k] (or [heads, max_length, k] when per head); an
  input shorter than `max_length` uses its first n rows, as fairseq does.
  """
  k: int
  max_length: int
  num_heads: Optional[int] = None  # None: one kernel shared by the heads.
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array]) -> jax.Array:
    n = x.shape[1]
    if n > self.max_length:
      raise ValueError(
          f'Linformer input has {n} tokens but max_length is '
          f'{self.max_length}; raise model.attention.max_length to >= {n}')
    shape = (self.max_length, self.k)
    if self.num_heads is not None:
      shape = (self.num_heads,) + shape
    # Fan-in is the sequence length: keeps E·K at the scale of K.
    kernel = self.param('kernel', nn.initializers.lecun_normal(
        in_axis=-2, out_axis=-1), shape).astype(self.dtype)
    kernel = kernel[..., :n, :]
    if mask is not None:
      x = jnp.where(mask[:, :, None, None], x, jnp.zeros((), x.dtype))
    if self.num_heads is None:
      return _project_shared(x, kernel)
    return jnp.einsum('bnhd,hnk->bkhd', x, kernel)


@registry.register('linformer')
class LinformerAttention(MultiHeadAttention):
  """Softmax attention over k projected keys/values.

  Attributes:
    k: projected length.
    max_length: the longest input; fixes the projection's size.
    sharing: one of SHARING_MODES.
  """
  k: int = 64
  max_length: int = 0
  sharing: str = 'headwise'

  @classmethod
  def make_shared(cls, *, k: int = 64, max_length: int = 0,
                  sharing: str = 'headwise', dtype=jnp.float32, name=None,
                  **unused_options) -> Optional[nn.Module]:
    """The layerwise projection, created once by the encoder."""
    del unused_options
    if sharing != 'layerwise':
      return None
    return SequenceProjection(k=k, max_length=max_length, dtype=dtype,
                              name=name)

  def _projections(self):
    """Returns (E, F) modules for this layer's sharing mode."""
    if self.sharing not in SHARING_MODES:
      raise ValueError(f'unknown Linformer sharing {self.sharing!r}; '
                       f'known: {SHARING_MODES}')
    if self.k <= 0 or self.max_length <= 0:
      raise ValueError(f'Linformer needs k > 0 and max_length > 0, got '
                       f'k={self.k}, max_length={self.max_length}')
    if self.sharing == 'layerwise':
      if self.shared is None:
        raise ValueError('layerwise Linformer needs the encoder\'s shared '
                         'projection (make_shared)')
      return self.shared, self.shared
    project = lambda name, heads: SequenceProjection(
        k=self.k, max_length=self.max_length, num_heads=heads,
        dtype=self.dtype, name=name)
    if self.sharing == 'kv':
      kv = project('kv_projection', None)
      return kv, kv
    heads = self.num_heads if self.sharing == 'none' else None
    return project('key_projection', heads), project('value_projection', heads)

  def attend(self, q, k, v, mask: Optional[jax.Array], deterministic: bool):
    project_keys, project_values = self._projections()
    k = project_keys(k, mask)    # [batch, self.k, heads, head_dim]
    v = project_values(v, mask)
    # Padded rows were removed by the projection: no mask is left to apply.
    return softmax_core.einsum_attention(q, k, v, None,
                                         self.dropout_weights(deterministic))


def _project_shared(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """einsum('bnhd,nk->bkhd', x, kernel) as a batched [k, n] @ [n, h*d] matmul.

  The kernel is broadcast over the batch (a few hundred KiB), so every operand
  and the result keep their [batch, length, heads * head_dim] layout: written
  as the einsum, XLA:CPU moved the sequence axis last ([b*h*d, n] @ [n, k])
  and paid a transpose of x before and of the result after, in both passes.
  """
  b, n, h, d = x.shape
  y = _broadcast_matmul(kernel, x.reshape(b, n, h * d))
  return y.reshape(b, kernel.shape[1], h, d)


@jax.custom_vjp
def _broadcast_matmul(kernel: jax.Array, x: jax.Array) -> jax.Array:
  """[n, k] kernel, x [b, n, c] -> kernelᵀ x [b, k, c], as batched matmuls.

  The custom gradient broadcasts the kernel untransposed for dx = kernel dy,
  so that matmul too reads row-major operands (autodiff contracted the
  broadcast kernelᵀ along its middle axis, a slow fallback on XLA:CPU).
  """
  return _broadcast_matmul_fwd(kernel, x)[0]


def _broadcast_matmul_fwd(kernel, x):
  kernel_t = jnp.broadcast_to(kernel.T[None], (x.shape[0],) + kernel.T.shape)
  return kernel_t @ x, (kernel, x)


def _broadcast_matmul_bwd(residuals, dy):
  kernel, x = residuals  # dy: [b, k, c]
  dx = jnp.broadcast_to(kernel[None], (x.shape[0],) + kernel.shape) @ dy
  # Per example [n, c] x [c, k], then summed over the batch: contracting over
  # (batch, c) at once made XLA:CPU copy x to [n, b*c] and dy to [b*c, k].
  dkernel = jnp.einsum('bnc,bkc->bnk', x, dy).sum(0)
  return dkernel.astype(kernel.dtype), dx


_broadcast_matmul.defvjp(_broadcast_matmul_fwd, _broadcast_matmul_bwd)
