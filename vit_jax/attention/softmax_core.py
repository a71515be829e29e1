"""Softmax attention on already projected heads, shared by the variants.

Layout follows `jax.nn.dot_product_attention`: [batch, length, heads, head_dim].
"""

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from vit_jax.attention import online_softmax

# Applied to the attention weights [batch, heads, q_len, kv_len]; identity when
# there is no dropout.
WeightsFn = Callable[[jax.Array], jax.Array]


def einsum_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                     key_mask: Optional[jax.Array] = None,
                     weights_fn: Optional[WeightsFn] = None, *,
                     cpu_tuned: bool = True) -> jax.Array:
  """Exact softmax attention written as two einsums.

  Args:
    q: [batch, q_len, heads, head_dim].
    k: [batch, kv_len, heads, head_dim].
    v: [batch, kv_len, heads, head_dim].
    key_mask: optional bool [batch, kv_len]; False keys get no weight.
    weights_fn: optional map over the weights (attention dropout).
    cpu_tuned: normalise after the second matmul, with its own gradient
      (`_normalise_late_attention`); False: softmax, then the product, as
      autodiff sees them (vit_jax/models/kernel_forms.py).

  Returns:
    [batch, q_len, heads, head_dim] in the dtype of `q`.
  """
  # Scale q, not the logits: q is the smaller array, and on XLA:CPU a scalar
  # multiply of the logits became a materialised [b, h, q, k] constant feeding
  # the fused dot (a whole extra pass over the largest tensor, both ways).
  q = q * jnp.asarray(1 / np.sqrt(q.shape[-1]), q.dtype)
  if weights_fn is None and cpu_tuned:
    return _normalise_late_attention(q, k, v, key_mask)
  weights = jax.nn.softmax(_logits(q, k, key_mask), axis=-1).astype(q.dtype)
  if weights_fn is not None:
    weights = weights_fn(weights)
  return jnp.einsum('bhqk,bkhd->bqhd', weights, v)


def _logits(q, k, key_mask):
  """[b, h, q, k] logits in f32 (softmax sums lose too much in bf16)."""
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, k).astype(jnp.float32)
  return _where_keys(key_mask, logits, jnp.finfo(jnp.float32).min)


def _where_keys(key_mask, x, fill):
  """x [b, h, q, k] with `fill` at masked-out keys (x itself if no mask)."""
  if key_mask is None:
    return x
  return jnp.where(key_mask[:, None, None, :], x, fill)


def _normalise_late_fwd(q, k, v, key_mask):
  # Heads-major copies, made once ([b, h, q, d], [b, h, d, k], [b, h, k, d]),
  # so that every batched matmul below, forward and backward, reads row-major
  # operands; the copies are of the small [length, heads, head_dim] tensors.
  qh = q.transpose(0, 2, 1, 3)
  k_t = k.transpose(0, 2, 3, 1)
  vh = v.transpose(0, 2, 1, 3)
  logits = _where_keys(key_mask, (qh @ k_t).astype(jnp.float32),
                       jnp.finfo(jnp.float32).min)  # [b, h, q, k]
  e = jnp.exp(logits - logits.max(-1, keepdims=True))
  total = e.sum(-1, keepdims=True)  # [b, h, q, 1]
  e = e.astype(v.dtype)
  out = ((e @ vh) / total.astype(v.dtype)).astype(q.dtype)  # [b, h, q, d]
  return (out.transpose(0, 2, 1, 3),
          (qh, k_t, vh, key_mask, e, total, out))


def _normalise_late_bwd(residuals, g):
  """Softmax-attention gradients from the unnormalised weights e.

  With w = e / total and o = w v: dv = wᵀ g = eᵀ (g / total);
  dlogits = w ⊙ (g vᵀ - c) with c = rowsum(w ⊙ g vᵀ) = rowsum(g ⊙ o), so
  dlogits = e ⊙ ((g / total) vᵀ - c / total): every [b, h, q, k] operand is
  e or a matmul output, and the normalisation touches [b, h, q, d] rows only.
  """
  qh, k_t, vh, key_mask, e, total, out = residuals
  g_scaled = g.transpose(0, 2, 1, 3) / total.astype(g.dtype)  # [b, h, q, d]
  c_scaled = jnp.sum(g_scaled.astype(jnp.float32) * out.astype(jnp.float32),
                     -1, keepdims=True)  # [b, h, q, 1] = rowsum(g ⊙ o) / total
  dvh = jnp.einsum('bhqk,bhqd->bhkd', e, g_scaled)
  dw = jnp.einsum('bhqd,bhkd->bhqk', g_scaled, vh).astype(jnp.float32)
  # Masked logits were constants: no gradient.
  dlogits = _where_keys(key_mask, e.astype(jnp.float32) * (dw - c_scaled),
                        0.0).astype(qh.dtype)
  dqh = jnp.einsum('bhqk,bhdk->bhqd', dlogits, k_t)
  dk_t = jnp.einsum('bhqd,bhqk->bhdk', qh, dlogits)
  return (dqh.transpose(0, 2, 1, 3), dk_t.transpose(0, 3, 1, 2),
          dvh.transpose(0, 2, 1, 3).astype(vh.dtype), None)


@jax.custom_vjp
def _normalise_late_attention(q, k, v, key_mask):
  """softmax(q kᵀ) v, normalised after the second matmul (same values).

  Dividing the [b, q, h, d] output by the row sums, instead of the [b, h, q, k]
  weights, saves passes over the largest tensor; the custom gradient
  (`_normalise_late_bwd`) keeps that property in the backward pass, where
  autodiff of `jax.nn.softmax` made XLA:CPU materialise broadcast row sums.
  Masked-out keys get weight exp(finfo.min - max) = 0, as in jax.nn.softmax.
  """
  return _normalise_late_fwd(q, k, v, key_mask)[0]


_normalise_late_attention.defvjp(_normalise_late_fwd, _normalise_late_bwd)


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


def _pad_to_multiple(x: jax.Array, axis: int, multiple: int) -> jax.Array:
  pad = -x.shape[axis] % multiple
  if not pad:
    return x
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, pad)
  return jnp.pad(x, widths)


def chunked_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                      key_mask: Optional[jax.Array] = None, *,
                      query_chunk_size: int = 1024,
                      key_chunk_size: int = 8192) -> jax.Array:
  """Exact softmax attention that never holds the q_len x kv_len matrix.

  Rabe & Staats (2021), "Self-attention does not need O(n²) memory": queries
  are processed in chunks; for each, keys are scanned in chunks keeping a
  running max and sum (the online softmax), so the forward pass holds one
  [batch, heads, query_chunk, key_chunk] block of logits at a time and keeps
  only the output and each row's log-sum-exp. The gradient is blockwise too
  (`online_softmax`, FlashAttention-2's backward): it recomputes one block of
  probabilities at a time. Train step of the sweep's model at n = 4,097 on a
  2-core CPU (malloc keeping its memory, so neither pays page faults): within
  ~1.0-1.15x of the einsum path's time with a third of its XLA plan; n = 16,385
  trains with a plan under 2 GiB. Long key blocks pay: 2,048-key blocks, or
  the block products in the [b, q, h, d] layout instead of heads-major, were
  markedly slower. Measured figures: docs/results.md.

  Inputs that fit in one block (q_len <= query_chunk_size and
  kv_len <= key_chunk_size) take the plain einsum path: chunking would only
  add the recomputation.

  Args:
    q, k, v, key_mask: as in `einsum_attention`.
    query_chunk_size, key_chunk_size: block sizes (clipped to the lengths).

  Returns:
    [batch, q_len, heads, head_dim] in the dtype of `q`.
  """
  b, n, h, d = q.shape
  m = k.shape[1]
  if n <= query_chunk_size and m <= key_chunk_size:
    return einsum_attention(q, k, v, key_mask)
  # Balanced chunks (n = 4097 in chunks of <= 1024: five of 820, not five of
  # 1024), so that padding to whole chunks wastes at most chunks - 1 rows.
  qc = -(-n // -(-n // query_chunk_size))
  kc = -(-m // -(-m // key_chunk_size))
  if key_mask is None:
    key_mask = jnp.ones((b, m), bool)
  # Pad to whole chunks: padded keys are masked, padded queries dropped.
  q = _pad_to_multiple(q / jnp.sqrt(d).astype(q.dtype), 1, qc)
  k, v = _pad_to_multiple(k, 1, kc), _pad_to_multiple(v, 1, kc)
  key_mask = _pad_to_multiple(key_mask, 1, kc)
  # Block axes first, for scan, and heads-major blocks (see online_softmax):
  # q [nq, b, h, qc, d], k_t [nk, b, h, d, kc], v [nk, b, h, kc, d].
  q_chunks = q.reshape(b, -1, qc, h, d).transpose(1, 0, 3, 2, 4)
  k_chunks = k.reshape(b, -1, kc, h, d).transpose(1, 0, 3, 4, 2)
  v_chunks = v.reshape(b, -1, kc, h, d).transpose(1, 0, 3, 2, 4)
  mask_chunks = key_mask.reshape(b, -1, kc).swapaxes(0, 1)
  out = online_softmax.blockwise_attention(q_chunks, k_chunks, v_chunks,
                                           mask_chunks)  # [nq, b, h, qc, d]
  return out.transpose(1, 0, 3, 2, 4).reshape(b, -1, h, d)[:, :n]
