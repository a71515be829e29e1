"""The part every multi-head attention variant shares: Q/K/V and output maps."""

from typing import Any, ClassVar, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


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

  # Rules for this variant's options in `config.model.attention`
  # (vit_jax.config_rules); checked before anything runs.
  OPTION_RULES: ClassVar[dict] = {}

  @classmethod
  def make_shared(cls, **options) -> Optional[nn.Module]:
    """Parameters one encoder shares across its layers (none by default)."""
    del options
    return None

  def attend(self, q: jax.Array, k: jax.Array, v: jax.Array,
             mask: Optional[jax.Array], deterministic: bool) -> jax.Array:
    """Maps projected heads [batch, length, heads, head_dim] to the same shape."""
    raise NotImplementedError

  def queries_keys_values(self, x: jax.Array, mask: Optional[jax.Array],
                          maps: dict[str, tuple[jax.Array, jax.Array]]):
    """Maps x [batch, length, dim] to q, k, v [batch, *, heads, head_dim].

    `maps` holds the (kernel [dim, heads, head_dim], bias [heads, head_dim])
    of 'query', 'key' and 'value'. A variant may return fewer keys and values
    than queries (Linformer maps them along the sequence here).
    """
    del mask
    return dense_heads(x, [maps[name] for name in ('query', 'key', 'value')],
                       self.dtype)

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
    maps = {name: _DenseGeneralParams((dim,), heads, name=name)()
            for name in ('query', 'key', 'value')}
    q, k, v = self.queries_keys_values(x, mask, maps)
    y = self.attend(q, k, v, mask, deterministic)
    assert y.shape == q.shape, (y.shape, q.shape)
    out_kernel, out_bias = _DenseGeneralParams(heads, (dim,), name='out')()
    y = jnp.dot(y.reshape(-1, dim), out_kernel.reshape(dim, dim).astype(
        self.dtype)) + out_bias.astype(self.dtype)
    return y.reshape(x.shape[:-1] + (dim,))


def dense_heads(x: jax.Array, maps, dtype,
                bias_scale: Optional[jax.Array] = None) -> list[jax.Array]:
  """x [..., dim] through (kernel, bias) head maps, as ONE matmul.

  The parameters are nn.DenseGeneral's (kernel [dim, heads, head_dim]), but
  applied as one [tokens, dim] x [dim, maps * dim] matmul with one bias pass:
  for q, k and v together that beat three (linear.matmul's row-major weight
  gradient was slower here: its transposes of the [tokens, dim] operands cost
  more than they saved).

  Args:
    x: [..., dim].
    maps: (kernel [dim, heads, head_dim], bias [heads, head_dim]) pairs.
    dtype: computation dtype.
    bias_scale: optional [...] factor of the bias per row (a row that is a
      weighted sum of inputs carries the bias times the sum of its weights).

  Returns:
    One [..., heads, head_dim] array per map.
  """
  dim = x.shape[-1]
  kernel = jnp.concatenate([w.reshape(dim, -1) for w, _ in maps], 1)
  bias = jnp.concatenate([b.reshape(-1) for _, b in maps]).astype(dtype)
  if bias_scale is not None:
    bias = bias_scale.reshape(-1, 1).astype(dtype) * bias
  y = jnp.dot(x.reshape(-1, dim).astype(dtype), kernel.astype(dtype)) + bias
  y = y.reshape(x.shape[:-1] + (len(maps),) + maps[0][1].shape)
  return [y[..., i, :, :] for i in range(len(maps))]


class _DenseGeneralParams(nn.Module):
  """The kernel and bias nn.DenseGeneral(out_shape) creates for in_shape."""
  in_shape: tuple[int, ...]
  out_shape: tuple[int, ...]

  @nn.compact
  def __call__(self):
    fan_in, fan_out = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
    init = nn.initializers.xavier_uniform()
    kernel = self.param(
        'kernel', lambda rng, shape: init(rng, (fan_in, fan_out)).reshape(shape),
        self.in_shape + self.out_shape)
    bias = self.param('bias', nn.initializers.zeros, self.out_shape)
    return kernel, bias
