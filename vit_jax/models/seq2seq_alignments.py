"""Alignments α of the RNN encoder-decoder: computed, scored and drawn.

`alignments` runs the model (teacher-forced or greedy) collecting the
attention weights its variant sows, as [batch, out_len, in_len] (heads
averaged); `mirrored_fraction` scores reversal alignments (the ideal is the
anti-diagonal: output step i reads input position n-1-i); `draw` writes one
heatmap PNG. experiments/alignment_maps.py applies them to a run's latest
checkpoint.
"""

import textwrap
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def alignments(model, params, batch, *, greedy: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
  """Output tokens and the weights that produced them.

  Args:
    model: the seq2seq model (vit_jax/models/seq2seq.py), with attention.
    params: its parameters.
    batch: `source`, `source_length`, `target` (as the seq2seq task's).
    greedy: decode greedily (the model's own outputs fed back) instead of
      teacher forcing.

  Returns:
    tokens int [b, T] (teacher forced: the argmax at each step) and weights
    float32 [b, T, S] (the mean over heads).

  Raises:
    ValueError: the model has no attention (nothing was sown).
  """
  length = batch['target'].shape[1]

  @jax.jit
  def run(params, source, source_length, target):
    if greedy:
      tokens, state = model.apply({'params': params}, source, source_length,
                                  length, method='greedy',
                                  mutable='intermediates')
    else:
      logits, state = model.apply({'params': params}, source, source_length,
                                  target, train=False,
                                  mutable='intermediates')
      tokens = jnp.argmax(logits, -1)
    return tokens, state

  tokens, state = run(params, batch['source'], batch['source_length'],
                      batch['target'])
  sown = jax.tree.leaves(state.get('intermediates', {}))
  if not sown:
    raise ValueError('the model sows no attention weights (a model without '
                     'attention has no alignments)')
  weights = np.asarray(sown[0])  # [T, b, heads, 1, S] from the decoder scan.
  return np.asarray(tokens), weights[:, :, :, 0].mean(2).transpose(1, 0, 2)


def mirrored_fraction(weights: np.ndarray, source_length: np.ndarray) -> float:
  """Share of output steps i < n whose argmax_j α_ij is n - 1 - i.

  Args:
    weights: [b, T, S] alignments of a reversal model.
    source_length: int [b], n per row (the steps of the reversed tokens; the
      EOS step after them is not counted).
  """
  hits = total = 0
  for w, n in zip(weights, np.asarray(source_length)):
    argmax = np.argmax(w[:n, :n], -1)
    hits += int(np.sum(argmax == np.arange(n)[::-1]))
    total += int(n)
  return hits / max(total, 1)


def draw(weights: np.ndarray, source: Sequence[str], output: Sequence[str],
         path: str, *, title: str = '') -> None:
  """Writes a heatmap of weights [len(output), len(source)] to `path` (PNG)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  size = (max(3.0, 0.3 * len(source) + 1.5), max(3.0, 0.3 * len(output) + 1))
  fig, ax = plt.subplots(figsize=size)
  ax.imshow(weights, cmap='gray_r', vmin=0.0, vmax=1.0, aspect='equal')
  ax.set_xticks(range(len(source)), source, rotation=90, fontsize=7)
  ax.set_yticks(range(len(output)), output, fontsize=7)
  ax.set_xlabel('source')
  ax.set_ylabel('output')
  if title:
    ax.set_title('\n'.join(textwrap.wrap(title, 60)), fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
