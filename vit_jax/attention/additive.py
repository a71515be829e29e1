"""Additive attention (Bahdanau, Cho & Bengio 2015).

e_ij = vᵀ tanh(W s_i + U h_j), α_ij = softmax_j(e_ij), c_i = Σ_j α_ij h_j,
per head: W and U are the query and key maps (U h is computed once per
attended sequence: `memory`), v a [heads, head_dim] parameter `score`.
As cross-attention it is the RNN encoder-decoder's alignment model, queried
with the decoder's previous state s_{i-1}; as self-attention (any model of
vit_jax/models) it scores every pair of tokens the same way, holding a
[batch, n, n, heads, head_dim] tensor.

The weights α [batch, heads, n, m] are sown as ('intermediates',
'weights') for alignment maps.
"""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.attention import registry
from vit_jax.attention.multihead import MultiHeadAttention


def masked_softmax(logits: jax.Array, key_mask: Optional[jax.Array]
                   ) -> jax.Array:
  """softmax over the last axis of logits [b, h, n, m] in f32; keys where
  key_mask [b, m] is False get weight exactly 0."""
  logits = logits.astype(jnp.float32)
  if key_mask is None:
    return jax.nn.softmax(logits, axis=-1)
  mask = key_mask[:, None, None, :]
  weights = jax.nn.softmax(
      jnp.where(mask, logits, jnp.finfo(jnp.float32).min), axis=-1)
  return jnp.where(mask, weights, 0.0)


def weighted_values(weights: jax.Array, v: jax.Array, weights_fn=None
                    ) -> jax.Array:
  """Σ_j α_ij v_j: weights [b, h, n, m], v [b, m, h, d] -> [b, n, h, d],
  with attention dropout `weights_fn` if given."""
  if weights_fn is not None:
    weights = weights_fn(weights)
  return jnp.einsum('bhnm,bmhd->bnhd', weights.astype(v.dtype), v)


@registry.register('additive')
class AdditiveAttention(MultiHeadAttention):
  """Bahdanau's additive scores vᵀ tanh(q_i + k_j) per head."""
  QUERY_STATE = 'previous'

  def attend(self, q, k, v, mask, deterministic):
    # Called inside the compact __call__: `score` is created on first use.
    score = self.param('score', nn.initializers.lecun_normal(), q.shape[2:])
    hidden = jnp.tanh(q[:, :, None] + k[:, None])  # [b, n, m, h, d]
    logits = jnp.einsum('bnmhd,hd->bhnm', hidden, score.astype(q.dtype))
    weights = masked_softmax(logits, mask)
    self.sow('intermediates', 'weights', weights)
    return weighted_values(weights, v, self.dropout_weights(deterministic))
