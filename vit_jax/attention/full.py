"""Exact multi-head softmax attention (Vaswani et al. 2017)."""

from typing import Optional

import jax

from vit_jax.attention import registry
from vit_jax.attention import softmax_core
from vit_jax.attention.multihead import MultiHeadAttention

IMPLEMENTATIONS = ('einsum', 'xla', 'cudnn', 'auto')


@registry.register('full')
class FullAttention(MultiHeadAttention):
  """softmax(Q Kᵀ / √d) V over all tokens.

  Attributes:
    implementation: 'einsum' (plain JAX, supports attention dropout), or one of
      `jax.nn.dot_product_attention`'s: 'xla', 'cudnn' (GPU flash kernel),
      'auto' (let JAX choose).
  """
  implementation: str = 'einsum'

  def attend(self, q, k, v, mask: Optional[jax.Array], deterministic: bool):
    if self.implementation not in IMPLEMENTATIONS:
      raise ValueError(f'unknown full attention implementation '
                       f'{self.implementation!r}; known: {IMPLEMENTATIONS}')
    if self.implementation == 'einsum':
      return softmax_core.einsum_attention(
          q, k, v, mask, self.dropout_weights(deterministic))
    if self.dropout_rate and not deterministic:
      raise ValueError(
          f'attention dropout is only supported by implementation=einsum, '
          f'not {self.implementation!r}')
    implementation = None if self.implementation == 'auto' else self.implementation
    return softmax_core.library_attention(q, k, v, mask, implementation)
