"""Multiplicative attention scores of Luong, Pham & Manning (2015).

  score='general':  e_ij = x_iᵀ W kv_j  (W the key map; queries unmapped)
  score='dot':      e_ij = x_iᵀ kv_j    (no score parameters; x and kv must
                                         have the same dim)

per head, unscaled, α = softmax_j(e). As cross-attention the RNN decoder
queries with its current state h_t (QUERY_STATE 'current'); the context
Σ α_ij (value map of kv_j) then enters h̃_t = tanh(W_c [c_t; h_t]) there. As
self-attention both scores use the query and key maps (x_iᵀ W_qᵀ W_k x_j),
i.e. 'full' attention without its 1/√d. Weights [batch, heads, n, m] are
sown as ('intermediates', 'weights').
"""

import jax.numpy as jnp

from vit_jax import config_rules
from vit_jax.attention import additive
from vit_jax.attention import multihead
from vit_jax.attention import registry

SCORES = ('general', 'dot')


@registry.register('luong')
class LuongAttention(multihead.MultiHeadAttention):
  """Luong's 'general' or 'dot' score (see the module docstring).

  Attributes:
    score: one of SCORES.
  """
  OPTION_RULES = {'score': config_rules.one_of(SCORES)}
  score: str = 'general'

  def cross_queries(self, x, head_map):
    del head_map  # Luong's scores read the query state itself.
    return x.reshape(x.shape[:-1] + (self.num_heads, -1)).astype(self.dtype)

  def memory_keys_values(self, kv, kv_mask, head_map):
    del kv_mask
    dim = kv.shape[-1]
    if self.score not in SCORES:
      raise ValueError(f'unknown Luong score {self.score!r}; known: '
                       f'{", ".join(SCORES)}')
    if self.score == 'dot':
      (v,) = multihead.dense_heads(kv, [head_map('value', dim)], self.dtype)
      return kv.reshape(v.shape).astype(self.dtype), v
    return tuple(multihead.dense_heads(
        kv, [head_map('key', dim), head_map('value', dim)], self.dtype))

  def attend(self, q, k, v, mask, deterministic):
    if q.shape[-1] != k.shape[-1]:
      raise ValueError(
          f'Luong attention needs queries and keys of one width per head, '
          f'got {q.shape[-1]} and {k.shape[-1]} (score={self.score!r}: '
          'make the decoder state as wide as the attended sequence)')
    logits = jnp.einsum('bnhd,bmhd->bhnm', q, k)
    weights = additive.masked_softmax(logits, mask)
    self.sow('intermediates', 'weights', weights)
    return additive.weighted_values(weights, v,
                                    self.dropout_weights(deterministic))
