r"""Alignment heatmaps of a trained RNN encoder-decoder run (seq2seq model).

  .venv/bin/python experiments/alignment_maps.py --workdir=runs/reversal \
      --out=docs/figures --count=4

Loads the workdir's latest checkpoint with the trainer's loader (reads only),
decodes the first `count` test examples greedily and writes
OUT/alignments_<dataset>_<i>.png: α [output step, source token] as a grey
heatmap (vit_jax/models/seq2seq_alignments.py), the decoded output on the
rows. For reversal it also prints the share of output steps whose strongest
weight is on the mirrored source position (1.0 = a perfect anti-diagonal).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from vit_jax import cli  # noqa: E402
from vit_jax.errors import ConfigError  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'a seq2seq run\'s workdir',
                               required=True)
_OUT = flags.DEFINE_string('out', 'docs/figures', 'folder for the PNGs')
_COUNT = flags.DEFINE_integer('count', 4, 'test examples to draw')


def main(argv):
  del argv
  cli.quiet_library_logs()
  with cli.user_errors_exit():
    from vit_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
    from vit_jax.data import token_sequences  # pylint: disable=g-import-not-at-top
    from vit_jax.models import seq2seq_alignments  # pylint: disable=g-import-not-at-top
    from vit_jax.visualization import trained_run  # pylint: disable=g-import-not-at-top
    if _COUNT.value < 1:
      raise ConfigError(f'--count={_COUNT.value}: must be >= 1')
    run = trained_run.load(_WORKDIR.value)
    model = run.config.model
    if model.get('name') != 'seq2seq' or not model.get('use_attention'):
      raise ConfigError(f'{_WORKDIR.value} is not a run of the seq2seq model '
                        'with attention (model.name=seq2seq, '
                        'use_attention=True): it has no alignments')
    batch = trained_run.test_batch(run, _COUNT.value)
    tokens, weights = seq2seq_alignments.alignments(
        run.model, run.params, batch, greedy=True)
    vocabulary = input_pipeline.class_names(run.config)  # The tokens.
    os.makedirs(_OUT.value, exist_ok=True)
    dataset = run.config.dataset.replace('/', '')
    for i in range(len(tokens)):
      n = int(batch['source_length'][i])
      source = [vocabulary[t] for t in batch['source'][i, :n]]
      output = [vocabulary[t] for t in tokens[i]]
      # Rows up to and including the first EOS the model wrote.
      steps = output.index('<eos>') + 1 if '<eos>' in output else len(output)
      path = os.path.join(_OUT.value, f'alignments_{dataset}_{i}.png')
      separator = '' if dataset == 'dates' else ' '
      title = (f'{model.attention.name} attention, step {run.step}: '
               f'{token_sequences.decode(batch["source"][i], vocabulary, separator)}'
               f' -> {token_sequences.decode(tokens[i], vocabulary, separator)}')
      seq2seq_alignments.draw(weights[i, :steps, :n], source,
                              output[:steps], path, title=title)
      print(f'wrote {path}')
    if dataset == 'reversal':
      share = seq2seq_alignments.mirrored_fraction(weights,
                                                   batch['source_length'])
      print(f'argmax on the mirrored position: {share:.3f} of output steps')


if __name__ == '__main__':
  app.run(main)
