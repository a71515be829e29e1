"""The seq2seq task's metrics: BLEU statistics against a Counter reference,
exact match and the target mask."""

import collections
import math

import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax.data import token_sequences
from vit_jax.tasks import seq2seq

EOS = token_sequences.EOS


def _reference_bleu(hypotheses, references):
  """Corpus BLEU-4 with Counters (Papineni et al. 2002), in [0, 100]."""
  matches, totals = [0] * 4, [0] * 4
  hyp_len = ref_len = 0
  for hyp, ref in zip(hypotheses, references):
    hyp_len += len(hyp)
    ref_len += len(ref)
    for n in range(1, 5):
      h = collections.Counter(tuple(hyp[i:i + n])
                              for i in range(len(hyp) - n + 1))
      r = collections.Counter(tuple(ref[i:i + n])
                              for i in range(len(ref) - n + 1))
      matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
      totals[n - 1] += sum(h.values())
  if min(matches) == 0:
    return 0.0
  logs = [math.log(m / t) for m, t in zip(matches, totals)]
  brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
  return 100 * brevity * math.exp(sum(logs) / 4)


def _cut(tokens):
  tokens = list(tokens)
  return tokens[:tokens.index(EOS)] if EOS in tokens else tokens


def test_bleu_equals_counter_reference():
  rng = np.random.default_rng(0)
  b, t = 40, 12
  lengths = rng.integers(4, t, b)  # Target tokens before EOS.
  targets = [list(rng.integers(3, 7, n)) + [EOS] for n in lengths]
  target = token_sequences.pad(targets, t)
  tokens = target.copy()
  # Corrupt some tokens, move some EOS, drop others (no EOS at all).
  noise = rng.random((b, t)) < 0.2
  tokens[noise] = rng.integers(3, 7, noise.sum())
  tokens[::7, :] = rng.integers(3, 7, (len(tokens[::7]), t))
  tokens[1::5, 2] = EOS
  rows = np.ones(b, np.float32)
  rows[-3:] = 0  # Padding rows of an eval batch do not count.
  batch = {'target': jnp.asarray(target),
           'target_length': jnp.asarray(lengths + 1, jnp.int32)}
  sums = seq2seq.bleu_sums(jnp.asarray(tokens), batch, jnp.asarray(rows))
  got = seq2seq.corpus_bleu(sums)
  want = _reference_bleu([_cut(h) for h in tokens[:-3]],
                         [_cut(r) for r in target[:-3]])
  assert 5 < want < 95  # A corpus that exercises clipping and brevity.
  assert got == pytest.approx(want, rel=1e-5)
  perfect = seq2seq.bleu_sums(jnp.asarray(target), batch, jnp.asarray(rows))
  assert seq2seq.corpus_bleu(perfect) == pytest.approx(100.0)


def test_exact_match_ignores_tokens_after_eos():
  target = token_sequences.pad([[5, 6, EOS], [7, EOS]], 4)
  batch = {'target': jnp.asarray(target),
           'target_length': jnp.array([3, 2], jnp.int32)}
  np.testing.assert_array_equal(
      seq2seq.target_mask(batch), [[1, 1, 1, 0], [1, 1, 0, 0]])
  tokens = jnp.array([[5, 6, EOS, 9], [7, 8, EOS, 9]])
  matches = np.asarray(seq2seq.sequence_matches(tokens, batch))
  np.testing.assert_array_equal(matches.all(-1), [True, False])
