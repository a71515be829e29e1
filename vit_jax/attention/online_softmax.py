"""Blockwise exact softmax attention with a blockwise gradient.

The forward pass scans key blocks per query block with a running max and sum
(Rabe & Staats 2021) and keeps only the output and each query row's
log-sum-exp; the backward pass recomputes one [query block, key block] of
probabilities at a time from them (the FlashAttention-2 backward, Dao 2023).
No [q_len, kv_len] array exists in either pass, and the backward does not
differentiate through the running rescaling: 7 block matmuls per block pair
against 8 for `jax.checkpoint` around the forward scan.

Inputs here are already padded to whole blocks and q already scaled; see
`softmax_core.chunked_attention` for the public entry point.
"""

import jax
import jax.numpy as jnp

# Arrays below are heads-major, so that every block product is a row-major
# batched matmul (as in softmax_core's einsum path): q [nq, b, h, qc, d],
# k_t [nk, b, h, d, kc] (keys transposed), v [nk, b, h, kc, d] (block axis
# first, for scan), mask [nk, b, kc] (True = attend), lse [nq, b, h, qc].


def _logits(q_c, k_t_c, mask_c):
  """q kᵀ of one block in f32, -inf where masked: [b, h, qc, kc]."""
  s = (q_c @ k_t_c).astype(jnp.float32)
  return jnp.where(mask_c[:, None, None, :], s, -jnp.inf)


def _probabilities(q_c, k_t_c, mask_c, lse_c):
  """exp(q kᵀ - lse) of one block, 0 where masked: [b, h, qc, kc] f32."""
  return jnp.exp(_logits(q_c, k_t_c, mask_c) - lse_c[..., None])


def _forward_block(q_c, k_t, v, mask):
  """One query block over all key blocks: (output [b, h, qc, d], lse)."""
  b, h, qc, d = q_c.shape

  def step(carry, kv):
    out, total, run_max = carry  # [b, h, qc, d], [b, h, qc], [b, h, qc] f32
    k_t_c, v_c, mask_c = kv
    s = _logits(q_c, k_t_c, mask_c)
    new_max = jnp.maximum(run_max, s.max(-1))
    safe_max = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
    p = jnp.exp(s - safe_max[..., None])  # Masked: exp(-inf) = 0.
    rescale = jnp.exp(jnp.where(jnp.isfinite(run_max), run_max, 0.0)
                      - safe_max)
    block_out = p.astype(v_c.dtype) @ v_c
    out = out * rescale[..., None] + block_out.astype(jnp.float32)
    return (out, total * rescale + p.sum(-1), new_max), None

  init = (jnp.zeros((b, h, qc, d), jnp.float32),
          jnp.zeros((b, h, qc), jnp.float32),
          jnp.full((b, h, qc), -jnp.inf, jnp.float32))
  (out, total, run_max), _ = jax.lax.scan(step, init, (k_t, v, mask))
  empty = total == 0  # Every key masked: output 0 and no gradient.
  safe_total = jnp.where(empty, 1.0, total)
  out = out / safe_total[..., None]
  lse = jnp.where(empty, jnp.inf, run_max + jnp.log(safe_total))
  return out.astype(q_c.dtype), lse


@jax.custom_vjp
def blockwise_attention(q, k_t, v, mask):
  """softmax(q kᵀ) v over blocks; returns [nq, b, h, qc, d]."""
  return _fwd(q, k_t, v, mask)[0]


def _fwd(q, k_t, v, mask):
  out, lse = jax.lax.map(lambda q_c: _forward_block(q_c, k_t, v, mask), q)
  return out, (q, k_t, v, mask, out, lse)


def _bwd(residuals, g):
  q, k_t, v, mask, out, lse = residuals
  # D = rowsum(dO ⊙ O) [nq, b, h, qc]: the softmax Jacobian's diagonal term.
  delta = jnp.sum(g.astype(jnp.float32) * out.astype(jnp.float32), -1)

  def query_step(dkv, inputs):
    q_c, g_c, lse_c, delta_c = inputs

    def key_step(dq, kv):
      k_t_c, v_c, mask_c = kv
      p = _probabilities(q_c, k_t_c, mask_c, lse_c)
      dv_c = jnp.einsum('bhqk,bhqd->bhkd', p.astype(g_c.dtype), g_c)
      dp = jnp.einsum('bhqd,bhkd->bhqk', g_c, v_c).astype(jnp.float32)
      ds = (p * (dp - delta_c[..., None])).astype(q_c.dtype)
      dq = dq + jnp.einsum('bhqk,bhdk->bhqd', ds, k_t_c).astype(jnp.float32)
      dk_t_c = jnp.einsum('bhqd,bhqk->bhdk', q_c, ds)
      return dq, (dk_t_c.astype(jnp.float32), dv_c.astype(jnp.float32))

    dq, (dk_t, dv) = jax.lax.scan(
        key_step, jnp.zeros(q_c.shape, jnp.float32), (k_t, v, mask))
    return (dkv[0] + dk_t, dkv[1] + dv), dq

  zeros = (jnp.zeros(k_t.shape, jnp.float32), jnp.zeros(v.shape, jnp.float32))
  (dk_t, dv), dq = jax.lax.scan(query_step, zeros, (q, g, lse, delta))
  return dq.astype(q.dtype), dk_t.astype(k_t.dtype), dv.astype(v.dtype), None


blockwise_attention.defvjp(_fwd, _bwd)
