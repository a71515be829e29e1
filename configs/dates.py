r"""The RNN encoder-decoder with attention on date normalisation, offline.

Dates in 13 human formats ("23 November 2026", "nov 23, 26", "23/11/2026",
"Monday 23rd of November 2026", ...) -> ISO "2026-11-23", character by
character (vit_jax/data/dates: 50,000 train examples; 1,000 test examples
of held-out dates, never seen in training in any format; prepared into
data_dir on first use, ~30 s). Model: configs/reversal.py's (embeddings
64, bidirectional GRU 64 per direction, GRU decoder 128, additive
attention), AdamW lr 3e-3, batch 128, 400 steps.

Run (argument: an attention `additive` | `luong` | `none`, plus key=value):

  python launch.py --config=configs/dates.py:additive --workdir=runs/dates

The final line gives the test exact match (greedy decoding, all 10
characters and EOS right). Expected on a 2-core CPU: ~1.5-2 min of training
(~3 min in all); test exact match 1.0 from step 200 on. Measured figures:
docs/seq2seq.md.
"""

from configs import common
from configs import reversal

# The dates dataset's vocabulary: pad, bos, eos, a-z, A-Z, 0-9 and ' ,./-'.
VOCAB_SIZE = 70


def get_config(arg=None):
  """arg: 'additive' | 'luong' | 'none' [,steps=..,cell=..,dim=..]."""
  args = common.parse_arg(arg, attention='additive', steps=400, cell='gru',
                          dim=64, input_feeding=False, score='general')
  if args.attention not in ('additive', 'luong', 'none'):
    raise ValueError(f'attention must be additive, luong or none, got '
                     f'{args.attention!r}')
  config = common.trainer_defaults()
  config.dataset = 'dates'
  config.num_classes = VOCAB_SIZE
  config.task = 'seq2seq'
  config.model = reversal.seq2seq_model(
      args.attention, embed_dim=64, encoder_dim=args.dim, cell=args.cell,
      input_feeding=args.input_feeding, score=args.score)
  config.summary_metric = 'test/exact_match'

  config.batch_size = 128
  config.eval_batch_size = 500
  config.total_steps = args.steps
  config.lr.base = 3e-3
  config.lr.warmup_steps = 100
  config.optimizer.weight_decay = 1e-4
  config.log_every_steps = 100
  config.eval_every_steps = 200
  config.checkpoint_every_steps = 200
  return config
