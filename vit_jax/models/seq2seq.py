"""The RNN encoder-decoder with attention (Bahdanau, Cho & Bengio 2015).

Source tokens -> bidirectional RNN annotations (seq2seq_encoder) -> an RNN
decoder attending to them at every output step (seq2seq_decoder) with any
attention variant of vit_jax/attention as cross-attention ('additive' for
Bahdanau, 'luong' for Luong's dot/general), or none (`use_attention=False`:
the encoder's final states only). Trained by the `seq2seq` task with teacher
forcing; `greedy` decodes under jit.

Parameter names: `source_embed`, `encoder/{forward,backward}_cell`,
`decoder/{embed, rnn_cell, initial_state, attend (the variant's query, key,
value, out, ...), combine, logits}`.
"""

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax import config_rules
from vit_jax.models import registry
from vit_jax.models import seq2seq_decoder
from vit_jax.models import seq2seq_encoder


@registry.register('seq2seq')
class EncoderDecoder(nn.Module):
  """Source tokens [b, n] (with lengths) -> target logits [b, T, vocab].

  Attributes:
    vocab_size: tokens of the dataset's vocabulary (source and target share
      it); given by the task.
    embed_dim: source token embedding width.
    encoder_dim: units per direction of the encoder.
    decoder_dim: units of the decoder (also the attention's output width).
    cell: 'gru' or 'lstm', for both.
    attention: `name` plus options of an attention variant.
    use_attention: False: the no-attention baseline (attention unused).
    num_heads: heads of the attention.
    input_feeding: Luong's input feeding (variants that query the current
      state).
    dropout_rate: on embeddings and before the output layer.
    dtype: computation dtype.
  """
  DEFAULT_TASK = 'seq2seq'
  CONFIG_RULES = {
      'embed_dim': config_rules.integer(low=1),
      'encoder_dim': config_rules.integer(low=1),
      'decoder_dim': config_rules.integer(low=1),
      'cell': config_rules.one_of(tuple(seq2seq_encoder.CELLS)),
      'use_attention': config_rules.boolean,
      'num_heads': config_rules.integer(low=1),
      'input_feeding': config_rules.boolean,
      'dropout_rate': config_rules.number(low=0, high=1, high_open=True),
  }

  vocab_size: int
  embed_dim: int
  encoder_dim: int
  decoder_dim: int
  attention: Mapping[str, Any]
  cell: str = 'gru'
  use_attention: bool = True
  num_heads: int = 1
  input_feeding: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  def setup(self):
    self.source_embed = nn.Embed(self.vocab_size, self.embed_dim)
    self.encoder = seq2seq_encoder.BidirectionalEncoder(
        self.encoder_dim, cell=self.cell, dtype=self.dtype)
    self.embed_dropout = nn.Dropout(self.dropout_rate)
    self.decoder = seq2seq_decoder.AttentionDecoder(
        vocab_size=self.vocab_size, hidden_dim=self.decoder_dim,
        cell=self.cell,
        attention=dict(self.attention) if self.use_attention else None,
        num_heads=self.num_heads, input_feeding=self.input_feeding,
        dropout_rate=self.dropout_rate, dtype=self.dtype)

  def encode(self, source: jax.Array, source_length: jax.Array, *,
             train: bool = False):
    """(annotations [b, n, 2 * encoder_dim], mask bool [b, n], final
    [b, 2 * encoder_dim]) of source int [b, n] with lengths int [b]."""
    embedded = self.embed_dropout(self.source_embed(source).astype(self.dtype),
                                  deterministic=not train)
    annotations, final = self.encoder(embedded, source_length)
    mask = jnp.arange(source.shape[1])[None, :] < source_length[:, None]
    return annotations, mask, final

  def __call__(self, source: jax.Array, source_length: jax.Array,
               target: jax.Array, *, train: bool) -> jax.Array:
    """Teacher-forced logits [b, T, vocab] of target int [b, T]."""
    annotations, mask, final = self.encode(source, source_length, train=train)
    return self.decoder.teacher_forced(annotations, mask, final, target,
                                       train=train)

  def greedy(self, source: jax.Array, source_length: jax.Array,
             length: int) -> jax.Array:
    """Greedy decoding: tokens int [b, length] (argmax fed back)."""
    annotations, mask, final = self.encode(source, source_length)
    return self.decoder.greedy(annotations, mask, final, length)
