"""The backend's fused attention kernel, for `full` with implementation='flash'.

  TPU: the Pallas splash-attention kernel (vit_jax/attention/splash.py);
  GPU: cuDNN's flash attention through `jax.nn.dot_product_attention`;
  elsewhere (CPU): no fused kernel; the caller's fallback (the chunked,
    memory-efficient path) is used.

Inputs a kernel cannot take (a dtype, a head size) fall back too. Each
fallback is logged once per process, in one line saying why, so a run on an
accelerator never silently loses its kernel.
"""

from typing import Callable, Optional

from absl import logging
import jax
import jax.numpy as jnp

from vit_jax.attention import softmax_core
from vit_jax.attention import splash

Attention = Callable[[jax.Array, jax.Array, jax.Array, Optional[jax.Array]],
                     jax.Array]
_LOGGED: set[str] = set()


def cudnn_unsupported_reason(q: jax.Array) -> Optional[str]:
  """Why cuDNN flash attention cannot take q [b, n, h, d], or None."""
  if q.dtype not in (jnp.bfloat16, jnp.float16):
    return f'cuDNN flash attention takes bfloat16 or float16, not {q.dtype}'
  head_dim = q.shape[-1]
  if head_dim > 128 or head_dim % 8:
    return (f'cuDNN flash attention takes head_dim <= 128 and a multiple of '
            f'8, not {head_dim}')
  return None


def kernel_for(backend: str, q: jax.Array) -> tuple[Optional[Attention], str]:
  """(the fused kernel for `backend` and these inputs or None, why not)."""
  if backend == 'tpu':
    reason = splash.unsupported_reason(q)
    if reason is None:
      return splash.splash_attention, ''
    return None, reason
  if backend == 'gpu':
    reason = cudnn_unsupported_reason(q)
    if reason is None:
      return (lambda q, k, v, mask: softmax_core.library_attention(
          q, k, v, mask, 'cudnn')), ''
    return None, reason
  return None, f'no fused attention kernel on the {backend} backend'


def fused_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                    key_mask: Optional[jax.Array], fallback: Attention,
                    fallback_name: str) -> jax.Array:
  """The backend's fused kernel, else `fallback` with one logged line."""
  kernel, reason = kernel_for(jax.default_backend(), q)
  if kernel is not None:
    return kernel(q, k, v, key_mask)
  log_once(f"attention implementation='flash' uses {fallback_name!r}: "
           f'{reason}')
  return fallback(q, k, v, key_mask)


def log_once(line: str) -> None:
  """Logs `line` (a warning) the first time it is seen in this process."""
  if line not in _LOGGED:
    _LOGGED.add(line)
    logging.warning('%s', line)
