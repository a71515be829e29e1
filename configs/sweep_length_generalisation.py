r"""Length generalisation of the RNN encoder-decoder, with and without attention.

The offline analogue of Bahdanau et al. (2015)'s Figure 2 (BLEU vs sentence
length, RNNsearch vs RNNenc): configs/reversal.py trained on reversal of
sequences of lengths 5-25 with additive attention, Luong's general score and
no attention (the encoder's final states only), then evaluated on every
length bucket 5-10, ..., 46-50 (500 sequences each; lengths above 25 were
never seen in training). Each point logs `length_A_B/exact_match` and
`length_A_B/greedy_token_accuracy`.

  python launch.py --config=configs/sweep_length_generalisation.py \
      --workdir=runs/sweep_length
  python experiments/length_generalisation.py --sweep_dir=runs/sweep_length

The sweep writes results.csv / results.jsonl and one folder per point; the
second command draws exact_match_vs_length.png and
greedy_token_accuracy_vs_length.png (a line per attention) into the sweep
folder. `steps=N` sets the training steps per point (default 1000).

Expected on a 2-core CPU: ~4-17 min per point (the 9 bucket evaluations
included; measured 211-998 s per point while the machine was shared). Test
exact match: additive 1.0, luong 0.996, none 0.31; on lengths 26-30 0.93,
0.75 and 0, beyond 35 0 for all. Figures: docs/seq2seq.md.
"""

from configs import common
from configs import reversal

ATTENTIONS = ('additive', 'luong', 'none')


def get_config(arg=None):
  """arg: [steps=..,dim=..,only=additive+none]."""
  args = common.parse_arg(arg, steps=1000, dim=64, only='+'.join(ATTENTIONS))
  chosen = [a for a in args.only.split('+') if a]
  unknown = sorted(set(chosen) - set(ATTENTIONS))
  if unknown or not chosen:
    raise ValueError(f'only= must name some of {", ".join(ATTENTIONS)} '
                     f'joined by +, got {args.only!r}')
  config = reversal.get_config(f'additive,steps={args.steps},dim={args.dim}')
  config.eval_every_steps = 10**9  # Every evaluation at the end only.
  config.sweep = [
      {'name': attention,
       'overrides': {'model': reversal.seq2seq_model(
           attention, embed_dim=config.model.embed_dim,
           encoder_dim=args.dim)}}
      for attention in chosen]
  return config
