"""Softmax attention on already projected heads, shared by the variants.

Layout follows `jax.nn.dot_product_attention`: [batch, length, heads, head_dim].
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp

# Applied to the attention weights [batch, heads, q_len, kv_len]; identity when
# there is no dropout.
WeightsFn = Callable[[jax.Array], jax.Array]


def einsum_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                     key_mask: Optional[jax.Array] = None,
                     weights_fn: Optional[WeightsFn] = None) -> jax.Array:
  """Exact softmax attention written as two einsums.

  Args:
    q: [batch, q_len, heads, head_dim].
    k: [batch, kv_len, heads, head_dim].
    v: [batch, kv_len, heads, head_dim].
    key_mask: optional bool [batch, kv_len]; False keys get no weight.
    weights_fn: optional map over the weights (attention dropout).

  Returns:
    [batch, q_len, heads, head_dim] in the dtype of `q`.
  """
  depth = q.shape[-1]
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, k) / jnp.sqrt(depth).astype(q.dtype)
  # Softmax in f32 even when computing in bf16: its sums lose too much otherwise.
  logits = logits.astype(jnp.float32)
  if key_mask is not None:
    logits = jnp.where(key_mask[:, None, None, :], logits,
                       jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
  if weights_fn is not None:
    weights = weights_fn(weights)
  return jnp.einsum('bhqk,bkhd->bqhd', weights, v)


def library_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                      key_mask: Optional[jax.Array] = None,
                      implementation: Optional[str] = None) -> jax.Array:
  """Exact softmax attention through `jax.nn.dot_product_attention`.

  Args:
    q, k, v, key_mask: as in `einsum_attention`.
    implementation: None lets JAX choose; 'xla' or 'cudnn' (GPU flash kernel)
      force one.

  Returns:
    [batch, q_len, heads, head_dim].
  """
  mask = None if key_mask is None else key_mask[:, None, None, :]
  return jax.nn.dot_product_attention(q, k, v, mask=mask,
                                      implementation=implementation)
