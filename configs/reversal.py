r"""The RNN encoder-decoder with attention on sequence reversal, offline.

Reversal of integer sequences (vit_jax/data/reversal: integers 0-49, lengths
5-25; 50,000 train / 1,000 test, prepared into data_dir on first use, ~30 s).
Model (vit_jax/models/seq2seq.py): embeddings 64, a bidirectional GRU of 64
units per direction, a GRU decoder of 128 units with Bahdanau's additive
attention (1 head); teacher forcing, AdamW lr 3e-3, batch 128, 600 steps.

Run (argument: an attention `additive` | `luong` | `none`, plus key=value):

  python launch.py --config=configs/reversal.py:additive --workdir=runs/reversal
  python launch.py --config=configs/reversal.py:none --workdir=runs/reversal_none

The final line gives the test exact match (greedy decoding, whole sequence
right). Expected on a 2-core CPU: additive ~3 min of training (~6 min in
all, the length evaluations at the end included), test exact match 0.99 at
step 400 and 1.0 at 600; without attention ~0.3 after 1,000 steps. Measured
figures: docs/seq2seq.md. Evaluations `length_A_B` (every
length bucket up to 50, at the end only) give the length generalisation of
a model trained on lengths <= 25; `experiments/alignment_maps.py` draws its
alignments.
"""

from configs import common

# The reversal dataset's vocabulary: pad, bos, eos and the integers 0-49.
VOCAB_SIZE = 53
LENGTH_BUCKETS = ((5, 10), (11, 15), (16, 20), (21, 25), (26, 30), (31, 35),
                  (36, 40), (41, 45), (46, 50))


def seq2seq_model(attention: str, *, embed_dim: int, encoder_dim: int,
                  cell: str = 'gru', input_feeding: bool = False,
                  score: str = 'general'):
  """A `config.model` section of the RNN encoder-decoder.

  attention: 'additive', 'luong' (with `score`) or 'none' (the baseline:
  the encoder's final states only). The decoder is twice as wide as each
  encoder direction: as wide as an annotation (Luong's scores need it).
  """
  if attention == 'luong':
    attention_section = dict(name='luong', score=score)
  else:
    attention_section = dict(name='additive')
  return dict(
      name='seq2seq', embed_dim=embed_dim, encoder_dim=encoder_dim,
      decoder_dim=2 * encoder_dim, cell=cell,
      attention=attention_section, use_attention=attention != 'none',
      num_heads=1, input_feeding=input_feeding, dropout_rate=0.0)


def get_config(arg=None):
  """arg: 'additive' | 'luong' | 'none' [,steps=..,cell=..,dim=..]."""
  args = common.parse_arg(arg, attention='additive', steps=600, cell='gru',
                          dim=64, input_feeding=False, score='general')
  if args.attention not in ('additive', 'luong', 'none'):
    raise ValueError(f'attention must be additive, luong or none, got '
                     f'{args.attention!r}')
  config = common.trainer_defaults()
  config.dataset = 'reversal'
  config.num_classes = VOCAB_SIZE
  config.task = 'seq2seq'
  config.model = seq2seq_model(
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
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 500
  config.evals = dict(
      test=dict(kind='task_metrics', split='test', every_steps=None),
      **{f'length_{lo}_{hi}': dict(kind='task_metrics',
                                    split=f'length_{lo}_{hi}',
                                    every_steps=10**9)
         for lo, hi in LENGTH_BUCKETS})
  return config
