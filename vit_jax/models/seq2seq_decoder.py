"""The RNN decoder of the encoder-decoder: one cell scanned over output steps.

At step i, with the previous token y_{i-1} and state s_{i-1}:

  variant queries 'previous' (Bahdanau; additive):
    c_i = Attend(s_{i-1}, annotations);  s_i = Cell(s_{i-1}, [E y_{i-1}; c_i])
  variant queries 'current' (Luong; luong, full):
    s_i = Cell(s_{i-1}, [E y_{i-1}; h̃_{i-1} if input_feeding])
    c_i = Attend(s_i, annotations)
  no attention (`attention` None): c_i = the encoder's summary, every step
    (Cho et al. 2014's RNN encoder-decoder: a fixed-length code only).

then h̃_i = tanh(W_c [s_i; c_i]) and logits_i = W_o h̃_i. The attention is any
variant of vit_jax/attention used as cross-attention; the annotations are
projected once per sequence (`MultiHeadAttention.memory`: U h in Bahdanau's
terms) before the scan. Weights α are sown by the variants and come out of
the scan as [steps, batch, heads, 1, m] in ('intermediates', ...).

`teacher_forced` feeds the true previous tokens (training, eval loss);
`greedy` feeds back each step's argmax under `nn.scan` (a `lax.scan`).
"""

from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax import attention as attention_lib
from vit_jax.data import token_sequences
from vit_jax.models import seq2seq_encoder


class AttentionDecoder(nn.Module):
  """Decodes target tokens from the encoder's annotations.

  Attributes:
    vocab_size: output tokens.
    hidden_dim: the decoder cell's units (also its token embedding width).
    cell: 'gru' or 'lstm'.
    attention: None (no attention), or `name` plus options of a variant.
    num_heads: heads of the attention.
    input_feeding: feed h̃_{i-1} to the cell (variants querying 'current').
    dropout_rate: dropout on h̃ before the output layer (training).
    dtype: computation dtype.
  """
  vocab_size: int
  hidden_dim: int
  cell: str = 'gru'
  attention: Optional[Mapping[str, Any]] = None
  num_heads: int = 1
  input_feeding: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  def setup(self):
    self.embed = nn.Embed(self.vocab_size, self.hidden_dim)
    self.rnn_cell = seq2seq_encoder.CELLS[self.cell](
        self.hidden_dim, dtype=self.dtype)
    self.initial_state = nn.Dense(self.hidden_dim, dtype=self.dtype)
    self.combine = nn.Dense(self.hidden_dim, dtype=self.dtype)
    self.logits = nn.Dense(self.vocab_size, dtype=self.dtype)
    self.dropout = nn.Dropout(self.dropout_rate)
    if self.attention is not None:
      variant = attention_lib.get(self.attention['name'])
      self.attend = variant(num_heads=self.num_heads, dtype=self.dtype,
                            **attention_lib.options_of(self.attention))
    else:
      self.summary = nn.Dense(self.hidden_dim, dtype=self.dtype)

  @property
  def _queries_previous(self) -> bool:
    if self.attention is None:
      return True
    return attention_lib.get(self.attention['name']).QUERY_STATE == 'previous'

  def _start(self, annotations, mask, final):
    """The scan's carry at step 0 and what every step reads."""
    state = jnp.tanh(self.initial_state(final))  # [b, hidden]
    if self.attention is not None:
      memory = self.attend.memory(annotations, mask)
    else:
      memory = jnp.tanh(self.summary(final))  # [b, hidden], every step.
    feed = jnp.zeros_like(state)  # h̃_0 for input feeding.
    return (seq2seq_encoder.carry_with_hidden(self.cell, state), feed), memory

  def _context(self, query, memory):
    if self.attention is None:
      return memory
    return self.attend(query[:, None], kv=memory)[:, 0]  # [b, hidden]

  def step(self, carry, token, memory, *, train: bool):
    """One output step: (carry, y_{i-1} int [b]) -> (carry, logits [b, V])."""
    cell_carry, feed = carry
    inputs = [self.embed(token).astype(self.dtype)]
    previous = self._queries_previous
    if previous:
      context = self._context(
          seq2seq_encoder.hidden_state(self.cell, cell_carry), memory)
      inputs.append(context)
    elif self.input_feeding:
      inputs.append(feed)
    cell_carry, state = self.rnn_cell(cell_carry, jnp.concatenate(inputs, -1))
    if not previous:
      context = self._context(state, memory)
    combined = jnp.tanh(self.combine(jnp.concatenate([state, context], -1)))
    logits = self.logits(self.dropout(combined, deterministic=not train))
    return (cell_carry, combined), logits.astype(jnp.float32)

  def _scan(self, body, carry, xs, memory):
    scan = nn.scan(body, variable_broadcast='params',
                   variable_axes={'intermediates': 0},
                   split_rngs={'params': False, 'dropout': True},
                   in_axes=(0, nn.broadcast), out_axes=0)
    return scan(self, carry, xs, memory)

  def teacher_forced(self, annotations, mask, final, targets, *,
                     train: bool) -> jax.Array:
    """Logits [b, T, V] of targets int [b, T] given the true prefixes."""
    carry, memory = self._start(annotations, mask, final)
    previous = jnp.concatenate([
        jnp.full(targets[:, :1].shape, token_sequences.BOS, targets.dtype),
        targets[:, :-1]], 1)  # y_{i-1}: BOS, then the targets shifted.

    def body(module, carry, token, memory):
      return module.step(carry, token, memory, train=train)

    _, logits = self._scan(body, carry, previous.T, memory)
    return logits.transpose(1, 0, 2)

  def greedy(self, annotations, mask, final, length: int) -> jax.Array:
    """Tokens int [b, length]: each step's argmax, fed to the next."""
    carry, memory = self._start(annotations, mask, final)
    first = jnp.full(final.shape[:1], token_sequences.BOS, jnp.int32)

    def body(module, carry, unused_x, memory):
      carry, token = carry
      carry, logits = module.step(carry, token, memory, train=False)
      token = jnp.argmax(logits, -1).astype(jnp.int32)
      return (carry, token), token

    _, tokens = self._scan(body, (carry, first),
                           jnp.zeros((length,) + first.shape, jnp.int32),
                           memory)
    return tokens.T
