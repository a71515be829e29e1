r"""Baselines of the RAM study on the same 60x60 digits: a conv net and an
MLP, trained with the plain 'classification' task.

Run (argument: `conv` or `mlp`, plus `data=translated` or `data=cluttered`):

  python launch.py --config=configs/ram_baselines.py:conv,data=cluttered \
      --workdir=runs/conv_cluttered
  python launch.py --config=configs/ram_baselines.py:mlp,data=translated \
      --workdir=runs/mlp_translated

Expected on a 2-core CPU (shared): 1.5-3 minutes each (30 epochs).
Measured (seed 0; table in docs/ram_and_attention_maps.md): conv translated
0.976, cluttered 0.937; MLP translated 0.862, cluttered 0.463.
"""

from configs import common

MODELS = {
    'conv': dict(name='convnet', features=(16, 32), first_kernel=10,
                 first_stride=5, kernel_size=3, hidden_size=128),
    'mlp': dict(name='mlp', hidden_sizes=(256, 256)),
}


def get_config(arg=None):
  """Returns the config; arg = 'conv' | 'mlp' [,data=..,epochs=..]."""
  args = common.parse_arg(arg, model='conv', data='translated', epochs=30.0)
  if args.model not in MODELS:
    raise ValueError(f'unknown baseline {args.model!r}; known: '
                     f'{", ".join(MODELS)}')
  if args.data not in ('translated', 'cluttered'):
    raise ValueError(f'unknown data {args.data!r}; known: translated, '
                     'cluttered')
  config = common.trainer_defaults()
  config.dataset = f'translated_digits/{args.data}'
  config.num_classes = 10
  config.image_size = 60
  config.input.value_range = (0.0, 1.0)
  config.input.train_ops = ()
  config.input.eval_ops = ()
  config.model = dict(MODELS[args.model])
  config.task = 'classification'

  config.batch_size = 128
  config.eval_batch_size = 360
  config.total_epochs = args.epochs
  config.lr.base = 1e-3
  config.lr.warmup_steps = 100
  config.optimizer.weight_decay = 1e-4
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  return config
