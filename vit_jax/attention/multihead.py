"""The part every multi-head attention variant shares: Q/K/V and output maps."""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp


class MultiHeadAttention(nn.Module):
  """Base class: projects to heads, calls `attend`, projects back.

  Parameter names (`query`, `key`, `value`, `out`, kernels [dim, heads,
  head_dim]) match `flax.linen.MultiHeadDotProductAttention`, so published ViT
  weights load into any variant.

  Attributes:
    num_heads: number of heads; must divide the model dimension.
    dtype: computation dtype (parameters stay float32).
    dropout_rate: dropout on the attention weights, where a variant has them.
    shared: the module returned by `make_shared`, owned by the encoder.
  """
  num_heads: int
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0
  shared: Optional[nn.Module] = None

  @classmethod
  def make_shared(cls, **options) -> Optional[nn.Module]:
    """Parameters one encoder shares across its layers (none by default)."""
    del options
    return None

  def attend(self, q: jax.Array, k: jax.Array, v: jax.Array,
             mask: Optional[jax.Array], deterministic: bool) -> jax.Array:
    """Maps projected heads [batch, length, heads, head_dim] to the same shape."""
    raise NotImplementedError

  def dropout_weights(self, deterministic: bool):
    """Returns the attention-weight dropout function, or None if inactive."""
    if deterministic or self.dropout_rate == 0.0:
      return None
    return nn.Dropout(rate=self.dropout_rate, deterministic=False)

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None, *,
               deterministic: bool = True) -> jax.Array:
    """Applies attention.

    Args:
      x: [batch, length, dim].
      mask: optional bool [batch, length]; True marks real tokens.
      deterministic: disables dropout when True.

    Returns:
      [batch, length, dim].
    """
    dim = x.shape[-1]
    if dim % self.num_heads:
      raise ValueError(
          f'model dim {dim} is not divisible by num_heads {self.num_heads}')
    heads = (self.num_heads, dim // self.num_heads)
    project = lambda name: nn.DenseGeneral(
        heads, dtype=self.dtype, name=name,
        kernel_init=nn.initializers.xavier_uniform())(x)
    q, k, v = project('query'), project('key'), project('value')
    y = self.attend(q, k, v, mask, deterministic)
    assert y.shape == q.shape, (y.shape, q.shape)
    return nn.DenseGeneral(dim, axis=(-2, -1), dtype=self.dtype, name='out',
                           kernel_init=nn.initializers.xavier_uniform())(y)
