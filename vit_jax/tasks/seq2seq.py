"""Sequence to sequence: source tokens -> target tokens, teacher forcing.

Batches (vit_jax/data/sources/sequence_records): `source` int32 [b, S],
`source_length` int32 [b], `target` int32 [b, T] (tokens then EOS, then
PAD), `target_length` int32 [b] (EOS included). The model maps
(source, source_length, target) to teacher-forced logits [b, T, vocab] and
has `greedy(source, source_length, length)` -> tokens [b, length]
(vit_jax/models/seq2seq.py).

Loss: cross-entropy of each real target token (EOS included) given the true
prefix, averaged over the batch's real tokens. Eval: the same loss, token
accuracy under teacher forcing, and greedy decoding's exact match (every
target token through EOS right), token accuracy and corpus BLEU-4 (greedy
output before EOS against the target before EOS). `config.num_classes` is
the vocabulary size. Config fields read: `num_classes`, `label_smoothing`.
"""

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vit_jax.data import token_sequences
from vit_jax.tasks import registry
from vit_jax.tasks.task import Batch, Task


def target_mask(batch: Batch) -> jax.Array:
  """float32 [b, T]: 1 at the real target tokens (EOS included)."""
  steps = jnp.arange(batch['target'].shape[1])[None, :]
  return (steps < batch['target_length'][:, None]).astype(jnp.float32)


def token_cross_entropy(logits: jax.Array, targets: jax.Array,
                        label_smoothing: float = 0.0) -> jax.Array:
  """[b, T] losses of logits [b, T, V] against int targets [b, T]."""
  onehot = jax.nn.one_hot(targets, logits.shape[-1])
  if label_smoothing:
    onehot = optax.smooth_labels(onehot, label_smoothing)
  return optax.softmax_cross_entropy(logits, onehot)


def sequence_matches(tokens: jax.Array, batch: Batch) -> jax.Array:
  """bool [b, T] token matches of predicted tokens [b, T] against targets,
  True at padding (positions past target_length count as matching)."""
  return (tokens == batch['target']) | (target_mask(batch) == 0)


BLEU_ORDER = 4


def _ngram_equal(a: jax.Array, b: jax.Array, n: int) -> jax.Array:
  """bool [batch, I, J]: a's n-gram at i equals b's at j (a [batch, I+n-1],
  b [batch, J+n-1] token arrays)."""
  i, j = a.shape[1] - n + 1, b.shape[1] - n + 1
  equal = jnp.ones((a.shape[0], i, j), bool)
  for t in range(n):
    equal &= a[:, t:t + i, None] == b[:, None, t:t + j]
  return equal


def bleu_sums(tokens: jax.Array, batch: Batch, rows: jax.Array
              ) -> dict[str, jax.Array]:
  """Corpus-BLEU sufficient statistics of greedy tokens [b, T] (sums).

  Hypothesis: the tokens before the first EOS; reference: the target before
  its EOS. Per order n: clipped n-gram matches, Σ over distinct n-grams g of
  min(count_hyp(g), count_ref(g)), computed as Σ_i over hypothesis positions
  of min(c_hyp, c_ref) / c_hyp of the n-gram there; and hypothesis n-grams.
  """
  steps = jnp.arange(tokens.shape[1])[None, :]
  is_eos = tokens == token_sequences.EOS
  hyp_length = jnp.where(is_eos.any(-1), jnp.argmax(is_eos, -1),
                         tokens.shape[1])  # [b]
  ref_length = batch['target_length'] - 1  # [b]
  sums = {'bleu_hyp_length': jnp.sum(hyp_length * rows),
          'bleu_ref_length': jnp.sum(ref_length * rows)}
  for n in range(1, BLEU_ORDER + 1):
    if tokens.shape[1] < n:
      sums[f'bleu_match{n}'] = sums[f'bleu_total{n}'] = jnp.zeros(())
      continue
    hyp_valid = steps[:, :tokens.shape[1] - n + 1] <= (hyp_length - n)[:, None]
    ref_valid = steps[:, :tokens.shape[1] - n + 1] <= (ref_length - n)[:, None]
    in_hyp = jnp.sum(_ngram_equal(tokens, tokens, n) & hyp_valid[:, None], -1)
    in_ref = jnp.sum(_ngram_equal(tokens, batch['target'], n)
                     & ref_valid[:, None], -1)
    clipped = jnp.minimum(in_hyp, in_ref) / jnp.maximum(in_hyp, 1)
    sums[f'bleu_match{n}'] = jnp.sum(jnp.sum(clipped * hyp_valid, -1) * rows)
    sums[f'bleu_total{n}'] = jnp.sum(jnp.sum(hyp_valid, -1) * rows)
  return sums


def corpus_bleu(sums: Mapping[str, float]) -> float:
  """BLEU-4 (Papineni et al. 2002; uniform weights, no smoothing) in
  [0, 100] from `bleu_sums` added over a split."""
  logs = []
  for n in range(1, BLEU_ORDER + 1):
    match, total = float(sums[f'bleu_match{n}']), float(sums[f'bleu_total{n}'])
    if match <= 0 or total <= 0:
      return 0.0
    logs.append(np.log(match / total))
  hyp, ref = float(sums['bleu_hyp_length']), float(sums['bleu_ref_length'])
  brevity = 1.0 if hyp > ref else np.exp(1 - ref / max(hyp, 1e-9))
  return float(100 * brevity * np.exp(np.mean(logs)))


@registry.register('seq2seq')
class SequenceToSequence(Task):
  """Teacher-forced training, greedy decoding for exact match."""
  unit = 'sequences'
  rng_streams = ('dropout',)
  metric_names = ('exact_match', 'token_accuracy', 'greedy_token_accuracy',
                  'bleu', 'loss')

  def check(self, info) -> None:
    if info.num_classes != self.config.num_classes:
      raise ValueError(f'num_classes={self.config.num_classes} but dataset '
                       f'{self.config.dataset!r} has a vocabulary of '
                       f'{info.num_classes} tokens')
    if len(info.image_shape) != 1:
      raise ValueError(f'dataset {self.config.dataset!r} is not a token '
                       'sequence dataset (the seq2seq task needs source, '
                       'source_length, target and target_length features)')

  def model_kwargs(self, info) -> dict[str, Any]:
    del info  # check() made sure the dataset agrees with the config.
    return {'vocab_size': self.config.num_classes}

  def init_inputs(self, info) -> tuple[jax.ShapeDtypeStruct, ...]:
    (length,) = info.image_shape
    return (jax.ShapeDtypeStruct((1, length), jnp.int32),
            jax.ShapeDtypeStruct((1,), jnp.int32),
            jax.ShapeDtypeStruct((1, length + 1), jnp.int32))

  def model_inputs(self, batch: Batch) -> tuple[Any, ...]:
    return batch['source'], batch['source_length'], batch['target']

  def random_batch(self, info, batch_size: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    (length,) = info.image_shape
    first = len(token_sequences.SPECIAL_TOKENS)
    lengths = rng.integers(1, length + 1, batch_size).astype(np.int32)
    sources = [rng.integers(first, self.config.num_classes, n)
               for n in lengths]
    targets = [token_sequences.with_eos(s[::-1]) for s in sources]
    return {'source': token_sequences.pad(sources, length),
            'source_length': lengths,
            'target': token_sequences.pad(targets, length + 1),
            'target_length': lengths + 1}

  def loss_and_metrics(self, model, params, batch, rngs):
    logits = model.apply({'params': params}, *self.model_inputs(batch),
                         train=True, rngs=rngs)
    mask = target_mask(batch)
    tokens = jnp.maximum(mask.sum(), 1)
    losses = token_cross_entropy(logits, batch['target'],
                                 self.config.label_smoothing)
    correct = (jnp.argmax(logits, -1) == batch['target']) * mask
    return jnp.sum(losses * mask) / tokens, {
        'token_accuracy': jnp.sum(correct) / tokens}

  def eval_sums(self, model, params, batch):
    logits = model.apply({'params': params}, *self.model_inputs(batch),
                         train=False)
    greedy = self.predict(model, params, batch)
    mask = target_mask(batch)
    rows = batch['mask']
    token_mask = mask * rows[:, None]
    matches = sequence_matches(greedy, batch)
    return {
        'loss_sum': jnp.sum(token_cross_entropy(logits, batch['target'])
                            * token_mask),
        'correct_sum': jnp.sum((jnp.argmax(logits, -1) == batch['target'])
                               * token_mask),
        'greedy_correct_sum': jnp.sum((greedy == batch['target'])
                                      * token_mask),
        'exact_sum': jnp.sum(jnp.all(matches, -1) * rows),
        'token_count': jnp.sum(token_mask),
        'count': jnp.sum(rows),
        **bleu_sums(greedy, batch, rows),
    }

  def eval_metrics(self, sums: Mapping[str, float]) -> dict[str, float]:
    count, tokens = float(sums['count']), float(sums['token_count'])
    return {'loss': float(sums['loss_sum']) / tokens,
            'token_accuracy': float(sums['correct_sum']) / tokens,
            'greedy_token_accuracy': float(sums['greedy_correct_sum']) / tokens,
            'exact_match': float(sums['exact_sum']) / count,
            'bleu': corpus_bleu(sums),
            'count': count}

  def predict(self, model, params, batch) -> jax.Array:
    """Greedy tokens int [b, T] (T: the batch's target length)."""
    return model.apply({'params': params}, batch['source'],
                       batch['source_length'], batch['target'].shape[1],
                       method='greedy')

  def describe(self, batch: Batch, outputs: np.ndarray) -> str:
    exact = np.all(np.asarray(sequence_matches(outputs, batch)), -1)
    return (f'greedy tokens {list(outputs.shape)}; first '
            f'{np.asarray(outputs)[0].tolist()}; exact match (random '
            f'batch) {exact.mean():.2f}')
