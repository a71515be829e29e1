"""The bidirectional RNN encoder of the RNN encoder-decoder (Bahdanau et al.).

Annotations h_j = [→h_j; ←h_j] of the source tokens, each direction a flax
`nn.RNN` over the real tokens only (`seq_lengths`: the backward RNN starts at
each sequence's last real token), so annotations and final states do not
depend on padding; annotations at padded positions are zero.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

CELLS = {'gru': nn.GRUCell, 'lstm': nn.OptimizedLSTMCell}


def hidden_state(cell: str, carry) -> jax.Array:
  """The hidden state h of a cell's carry (an LSTM's is (c, h))."""
  return carry[1] if cell == 'lstm' else carry


def carry_with_hidden(cell: str, hidden: jax.Array):
  """A carry whose hidden state is `hidden` (an LSTM's memory starts at 0)."""
  return (jnp.zeros_like(hidden), hidden) if cell == 'lstm' else hidden


class BidirectionalEncoder(nn.Module):
  """Source tokens -> annotations and a summary of the whole sequence.

  Attributes:
    hidden_dim: units of each direction's cell.
    cell: 'gru' or 'lstm'.
    dtype: computation dtype.
  """
  hidden_dim: int
  cell: str = 'gru'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, embedded: jax.Array, lengths: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
    """Encodes a batch.

    Args:
      embedded: [batch, n, embed_dim] source embeddings.
      lengths: int [batch], real tokens per row (<= n).

    Returns:
      annotations [batch, n, 2 * hidden_dim] (zero past each length) and the
      final states [batch, 2 * hidden_dim] (forward after the last real
      token, backward after the first).
    """
    make = lambda direction: nn.RNN(CELLS[self.cell](
        self.hidden_dim, dtype=self.dtype, name=f'{direction}_cell'))
    carries, annotations = nn.Bidirectional(
        make('forward'), make('backward'), return_carry=True)(
            embedded, seq_lengths=lengths)
    real = jnp.arange(embedded.shape[1])[None, :] < lengths[:, None]
    annotations = jnp.where(real[..., None], annotations, 0)
    final = jnp.concatenate([hidden_state(self.cell, c) for c in carries], -1)
    return annotations, final
