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

from vit_jax import config_rules
from vit_jax.attention import multihead
from vit_jax.attention import registry
from vit_jax.attention import softmax_core

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
  cpu_tuned: bool = False  # `_broadcast_matmul`'s gradient, else autodiff's.

  def setup(self):
    shape = (self.max_length, self.k)
    if self.num_heads is not None:
      shape = (self.num_heads,) + shape
    # Fan-in is the sequence length: keeps E·K at the scale of K.
    self.kernel = self.param('kernel', nn.initializers.lecun_normal(
        in_axis=-2, out_axis=-1), shape)

  def kernel_for(self, n: int) -> jax.Array:
    """The [(heads,) n, k] kernel for inputs of n tokens."""
    if n > self.max_length:
      raise ValueError(
          f'Linformer input has {n} tokens but max_length is '
          f'{self.max_length}; raise model.attention.max_length to >= {n}')
    return self.kernel[..., :n, :].astype(self.dtype)

  def __call__(self, x: jax.Array, mask: Optional[jax.Array]) -> jax.Array:
    kernel = self.kernel_for(x.shape[1])
    if mask is not None:
      x = jnp.where(mask[:, :, None, None], x, jnp.zeros((), x.dtype))
    if self.num_heads is None:
      if self.cpu_tuned:
        return _project_shared(x, kernel)
      return jnp.einsum('bnhd,nk->bkhd', x, kernel)
    return jnp.einsum('bnhd,hnk->bkhd', x, kernel)


@registry.register('linformer')
class LinformerAttention(multihead.MultiHeadAttention):
  """Softmax attention over k projected keys/values.

  Attributes:
    k: projected length.
    max_length: the longest input; fixes the projection's size.
    sharing: one of SHARING_MODES.
    cpu_tuned: the CPU-tuned forms (sequence map before the key and value
      maps, custom-gradient projections); set by the encoder from
      `model.kernels`.
  """
  OPTION_RULES = {
      'k': config_rules.integer(low=1),
      'max_length': config_rules.integer(low=1),
      'sharing': config_rules.one_of(SHARING_MODES),
  }
  k: int = 64
  max_length: int = 0
  sharing: str = 'headwise'
  cpu_tuned: bool = False

  @classmethod
  def make_shared(cls, *, k: int = 64, max_length: int = 0,
                  sharing: str = 'headwise', dtype=jnp.float32, name=None,
                  cpu_tuned: bool = False,
                  **unused_options) -> Optional[nn.Module]:
    """The layerwise projection, created once by the encoder."""
    del unused_options
    if sharing != 'layerwise':
      return None
    return SequenceProjection(k=k, max_length=max_length, dtype=dtype,
                              cpu_tuned=cpu_tuned, name=name)

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
        dtype=self.dtype, cpu_tuned=self.cpu_tuned, name=name)
    if self.sharing == 'kv':
      kv = project('kv_projection', None)
      return kv, kv
    heads = self.num_heads if self.sharing == 'none' else None
    return project('key_projection', heads), project('value_projection', heads)

  def queries_keys_values(self, x, mask, maps):
    """Queries for all n tokens; keys and values for the k projected rows."""
    project_keys, project_values = self._projections()
    if (self.cpu_tuned and project_keys.num_heads is None
        and self.k < x.shape[1]):
      return self._map_sequence_first(x, mask, maps, project_keys,
                                      project_values)
    q, k, v = super().queries_keys_values(x, mask, maps)
    return q, project_keys(k, mask), project_values(v, mask)

  def _map_sequence_first(self, x, mask, maps, project_keys, project_values):
    """The same keys and values, with the sequence map applied to x first.

    E(XW + 1bᵀ) = (EX)W + (E1)bᵀ: with one kernel for all heads, mapping x's
    n rows to k first and applying W to those k rows saves the key and value
    maps' matmuls over the other n - k rows (at n = 4097, k = 256, dim 256:
    13% of the train step's matmul FLOPs). Padded rows are zeroed first, as in
    `SequenceProjection`, so E1 becomes E·mask.
    """
    b, n, _ = x.shape
    (q,) = multihead.dense_heads(x, [maps['query']], self.dtype)
    shared_kv = project_values is project_keys
    kernels = [project_keys.kernel_for(n)]
    if not shared_kv:
      kernels.append(project_values.kernel_for(n))
    kernel = jnp.concatenate(kernels, 1)  # [n, k] or [n, 2k]: E (and F).
    weights = jnp.ones((b, n), self.dtype) if mask is None else mask.astype(
        self.dtype)
    x = x.astype(self.dtype)
    if mask is not None:
      x = jnp.where(mask[:, :, None], x, jnp.zeros((), x.dtype))
    rows = _broadcast_matmul(kernel, x)  # [b, k or 2k, dim]
    row_weights = weights @ kernel  # [b, k or 2k]: the bias's share per row.
    if shared_kv:
      k, v = multihead.dense_heads(rows, [maps['key'], maps['value']],
                                   self.dtype, bias_scale=row_weights)
    else:
      (k,) = multihead.dense_heads(rows[:, :self.k], [maps['key']], self.dtype,
                                   bias_scale=row_weights[:, :self.k])
      (v,) = multihead.dense_heads(rows[:, self.k:], [maps['value']],
                                   self.dtype,
                                   bias_scale=row_weights[:, self.k:])
    return q, k, v

  def attend(self, q, k, v, mask: Optional[jax.Array], deterministic: bool):
    # Padded rows were removed by the projection: no mask is left to apply.
    del mask
    return softmax_core.einsum_attention(q, k, v, None,
                                         self.dropout_weights(deterministic),
                                         cpu_tuned=self.cpu_tuned)


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
