"""The part every multi-head attention variant shares: Q/K/V and output maps.

Self-attention: `y = attn(x, mask)`, queries, keys and values from x.
Cross-attention: `y = attn(x, kv=other, kv_mask=other_mask)`, queries from x
[batch, n, dim], keys and values from `other` [batch, m, kv_dim] (heads of
kv_dim // num_heads), y [batch, n, dim]. A decoder that attends to the same
sequence at every step projects it once, `memory = attn.memory(other,
other_mask)`, and passes `kv=memory` at each step.
"""

from typing import Any, ClassVar, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class Memory(NamedTuple):
  """A projected sequence to attend to (see `MultiHeadAttention.memory`).

  Attributes:
    keys: [batch, m, heads, head_dim].
    values: [batch, m, heads, head_dim].
    mask: bool [batch, m] (True = real token), or None.
  """
  keys: jax.Array
  values: jax.Array
  mask: Optional[jax.Array]


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
  # Which decoder state an RNN decoder queries with (vit_jax/models/
  # seq2seq_decoder.py): 'previous' (s_{i-1}, Bahdanau) or 'current' (h_t
  # after the cell, Luong).
  QUERY_STATE: ClassVar[str] = 'current'

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

  def cross_queries(self, x: jax.Array, head_map) -> jax.Array:
    """Cross-attention queries [batch, n, heads, head_dim] of x [batch, n, dim].

    `head_map(name, in_dim)` creates or reuses the (kernel, bias) of map
    `name` from in_dim features.
    """
    return dense_heads(x, [head_map('query', x.shape[-1])], self.dtype)[0]

  def memory_keys_values(self, kv: jax.Array, kv_mask: Optional[jax.Array],
                         head_map) -> tuple[jax.Array, jax.Array]:
    """Cross-attention keys and values [batch, m, heads, head_dim] of kv."""
    del kv_mask
    dim = kv.shape[-1]
    return tuple(dense_heads(kv, [head_map('key', dim), head_map('value', dim)],
                             self.dtype))

  def _check_cross_attention(self):
    """A variant that maps keys and values its own way (Linformer) must say
    how it maps another sequence's; until it does, cross-attention refuses."""
    cls = type(self)
    if (cls.queries_keys_values is not MultiHeadAttention.queries_keys_values
        and cls.memory_keys_values is MultiHeadAttention.memory_keys_values):
      raise ValueError(
          f'attention variant {cls.__name__} does not support '
          'cross-attention yet (it maps keys and values its own way; it needs '
          'a memory_keys_values method)')

  def memory(self, kv: jax.Array, kv_mask: Optional[jax.Array] = None
             ) -> Memory:
    """Projects a sequence kv [batch, m, kv_dim] once for cross-attention."""
    return self(None, kv=kv, kv_mask=kv_mask)

  def dropout_weights(self, deterministic: bool):
    """Returns the attention-weight dropout function, or None if inactive."""
    if deterministic or self.dropout_rate == 0.0:
      return None
    return nn.Dropout(rate=self.dropout_rate, deterministic=False)

  @nn.compact
  def __call__(self, x: Optional[jax.Array], mask: Optional[jax.Array] = None,
               *, kv: Any = None, kv_mask: Optional[jax.Array] = None,
               deterministic: bool = True) -> Any:
    """Applies attention.

    Args:
      x: [batch, length, dim]; None with `kv` an array returns its `Memory`.
      mask: optional bool [batch, length]; True marks real tokens
        (self-attention only).
      kv: None (self-attention), or the sequence to attend to: an array
        [batch, m, kv_dim] or its `Memory`.
      kv_mask: optional bool [batch, m] for an array `kv`.
      deterministic: disables dropout when True.

    Returns:
      [batch, length, dim] (a `Memory` when x is None).
    """
    if kv is not None:
      return self._cross_attention(x, kv, kv_mask, deterministic)
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

  def _cross_attention(self, x, kv, kv_mask, deterministic):
    """Queries from x, keys and values from kv (array or Memory)."""
    self._check_cross_attention()
    memory = kv
    if not isinstance(kv, Memory):
      if kv.shape[-1] % self.num_heads:
        raise ValueError(f'attended sequence dim {kv.shape[-1]} is not '
                         f'divisible by num_heads {self.num_heads}')
      heads = (self.num_heads, kv.shape[-1] // self.num_heads)
      head_map = lambda name, dim: _DenseGeneralParams(
          (dim,), heads, name=name)()
      if kv_mask is not None and kv_mask.shape != kv.shape[:2]:
        raise ValueError(f'kv_mask {kv_mask.shape} does not match kv '
                         f'{kv.shape[:2]}')
      memory = Memory(*self.memory_keys_values(kv, kv_mask, head_map),
                      kv_mask)
    if x is None:
      return memory
    heads = memory.keys.shape[2:]
    head_map = lambda name, dim: _DenseGeneralParams((dim,), heads,
                                                     name=name)()
    q = self.cross_queries(x, head_map)
    y = self.attend(q, memory.keys, memory.values, memory.mask, deterministic)
    assert y.shape == q.shape, (y.shape, q.shape)
    dim = x.shape[-1]
    out_kernel, out_bias = _DenseGeneralParams(heads, (dim,), name='out')()
    width = int(np.prod(heads))
    y = jnp.dot(y.reshape(-1, width), out_kernel.reshape(width, dim).astype(
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
