"""Exact softmax attention through the Pallas TPU splash-attention kernel.

`jax.experimental.pallas.ops.tpu.splash_attention` computes blockwise softmax
attention in TPU VMEM (forward and a blockwise backward) without the n x m
weights ever reaching HBM. This module adapts it to the attention variants'
contract ([batch, length, heads, head_dim], a boolean key padding mask):

  - the 1/√head_dim scale is applied to q (the kernel applies none);
  - lengths are padded to whole 128-row blocks; padded and masked-out keys
    get segment id 0 and every query segment id 1, so no query attends to
    them; padded query rows are dropped from the output;
  - the kernel, built per head for one example, is vmapped over the batch.

Off TPU the same kernel runs in Pallas interpret mode: slow, but the values
and gradients are the kernel's, which is how the tests check it on CPU.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.pallas.ops.tpu.splash_attention import (
    splash_attention_kernel as kernel_lib)
from jax.experimental.pallas.ops.tpu.splash_attention import (
    splash_attention_mask as mask_lib)

BLOCK = 128  # The kernel's block rows; lengths are padded to multiples.
DTYPES = (jnp.float32, jnp.bfloat16)


def unsupported_reason(q: jax.Array) -> Optional[str]:
  """Why the kernel cannot take these inputs, or None if it can."""
  if q.dtype not in DTYPES:
    return f'splash attention takes float32 or bfloat16, not {q.dtype}'
  return None


def _round_up(n: int) -> int:
  return -(-n // BLOCK) * BLOCK


def _pad_length(x: jax.Array, length: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (0, length - x.shape[1])) +
                 ((0, 0),) * (x.ndim - 2))


def splash_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                     key_mask: Optional[jax.Array] = None, *,
                     interpret: bool = False) -> jax.Array:
  """softmax(q kᵀ / √d) v by the splash kernel.

  Args:
    q: [batch, n, heads, head_dim].
    k, v: [batch, m, heads, head_dim].
    key_mask: optional bool [batch, m]; False keys get no weight.
    interpret: run the kernel in Pallas interpret mode (any backend).

  Returns:
    [batch, n, heads, head_dim] in the dtype of `q`.
  """
  b, n, h, d = q.shape
  m = k.shape[1]
  assert k.shape == v.shape == (b, m, h, d), (q.shape, k.shape, v.shape)
  n_pad, m_pad = _round_up(n), _round_up(m)
  q = q * jnp.asarray(1 / np.sqrt(d), q.dtype)
  # [batch, heads, length, head_dim], the kernel's per-example layout.
  heads_major = lambda x, length: _pad_length(x, length).transpose(0, 2, 1, 3)
  q, k, v = heads_major(q, n_pad), heads_major(k, m_pad), heads_major(v, m_pad)
  real_keys = jnp.ones((b, m), bool) if key_mask is None else key_mask
  segment_ids = kernel_lib.SegmentIds(
      q=jnp.ones((b, n_pad), jnp.int32),
      kv=_pad_length(real_keys, m_pad).astype(jnp.int32))
  mask = mask_lib.MultiHeadMask([mask_lib.FullMask((n_pad, m_pad))] * h)
  block_q, block_kv = min(BLOCK, n_pad), min(BLOCK, m_pad)
  blocks = kernel_lib.BlockSizes(
      block_q=block_q, block_kv=block_kv, block_kv_compute=block_kv,
      block_q_dkv=block_q, block_kv_dkv=block_kv,
      block_kv_dkv_compute=block_kv, block_q_dq=block_q, block_kv_dq=block_kv)
  attend = kernel_lib.make_splash_mha(mask, head_shards=1, q_seq_shards=1,
                                      block_sizes=blocks, interpret=interpret)
  out = jax.vmap(attend)(q, k, v, segment_ids=segment_ids)
  return out.transpose(0, 2, 1, 3)[:, :n].astype(q.dtype)
