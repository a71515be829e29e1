"""Exact multi-head softmax attention (Vaswani et al. 2017)."""

import functools
from typing import Optional

import jax

from vit_jax import config_rules
from vit_jax.attention import fused_kernels
from vit_jax.attention import registry
from vit_jax.attention import splash
from vit_jax.attention import softmax_core
from vit_jax.attention.multihead import MultiHeadAttention

IMPLEMENTATIONS = ('einsum', 'chunked', 'flash', 'splash', 'xla', 'cudnn',
                   'auto')


@registry.register('full')
class FullAttention(MultiHeadAttention):
  """softmax(Q Kᵀ / √d) V over all tokens.

  Attributes:
    implementation: how the same function is computed:
      'einsum': plain JAX, materialises the n x n weights; supports dropout.
      'chunked': memory-efficient (Rabe & Staats 2021), O(chunk²) memory in
        forward and backward; see `softmax_core.chunked_attention`.
      'flash': the backend's fused kernel (attention/fused_kernels.py):
        Pallas splash attention on TPU, cuDNN flash attention on GPU; where
        there is none, or the inputs do not fit it, 'chunked' (logged once).
      'splash': the Pallas splash kernel itself, compiled on TPU and in
        Pallas interpret mode elsewhere (slow; how CPU tests check it).
      'xla', 'cudnn', 'auto': `jax.nn.dot_product_attention` with that
        implementation ('auto' lets JAX choose).
    query_chunk_size, key_chunk_size: block sizes of 'chunked'.
    cpu_tuned: the einsum path's CPU-tuned form (softmax_core); set by the
      encoder from `model.kernels`.
  """
  OPTION_RULES = {
      'implementation': config_rules.one_of(IMPLEMENTATIONS),
      'query_chunk_size': config_rules.integer(low=1),
      'key_chunk_size': config_rules.integer(low=1),
  }
  implementation: str = 'einsum'
  query_chunk_size: int = 1024
  key_chunk_size: int = 8192
  cpu_tuned: bool = False

  def attend(self, q, k, v, mask: Optional[jax.Array], deterministic: bool):
    implementation = self.implementation
    if implementation not in IMPLEMENTATIONS:
      raise ValueError(f'unknown full attention implementation '
                       f'{implementation!r}; known: {", ".join(IMPLEMENTATIONS)}')
    if implementation == 'einsum':
      return softmax_core.einsum_attention(
          q, k, v, mask, self.dropout_weights(deterministic),
          cpu_tuned=self.cpu_tuned)
    if self.dropout_rate and not deterministic:
      raise ValueError('attention dropout is only supported by '
                       f'implementation=einsum, not {implementation!r}')
    chunked = functools.partial(
        softmax_core.chunked_attention, query_chunk_size=self.query_chunk_size,
        key_chunk_size=self.key_chunk_size)
    if implementation == 'flash':
      return fused_kernels.fused_attention(q, k, v, mask, chunked, 'chunked')
    if implementation == 'splash':
      on_tpu = jax.default_backend() == 'tpu'
      if not on_tpu:
        fused_kernels.log_once('splash attention runs in Pallas interpret '
                               'mode off TPU (slow; for testing)')
      return splash.splash_attention(q, k, v, mask, interpret=not on_tpu)
    if implementation == 'chunked':
      return chunked(q, k, v, mask)
    return softmax_core.library_attention(
        q, k, v, mask, None if implementation == 'auto' else implementation)
