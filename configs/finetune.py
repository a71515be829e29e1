r"""Fine-tuning published or earlier weights at any resolution (VT's recipe).

  python launch.py \
      --config=configs/finetune.py:model=B/16,dataset=cifar10,init=ViT-B_16.npz,res=384 \
      --workdir=runs/b16_cifar10_384

`init=` is a VT/big_vision .npz file (e.g. VT's ViT-B_16.npz, ImageNet-21k)
or the workdir of a run trained here; the weights are adapted to this model
(docs/weights.md): head re-initialised for the new class count, pre_logits
dropped (representation_size None, as VT fine-tunes), position embedding
resized bilinearly to the new patch grid, Linformer's E/F fresh
(`attention=linformer`) or resized. Recipe as VT's fine-tuning: SGD momentum
0.9, no weight decay, batch 512, lr 0.03 with 500 warm-up steps then cosine
decay over 10,000 steps, gradient clipping at norm 1, 384² for
ImageNet-sized presets (random resized crop + flip; centre crop in eval).

Arguments: model (Ti/S/B/L/H + /patch, or `tiny`: the digits model of
configs/default.py, dim 64, depth 4, patch 4), dataset, init, res (0: 384
for tfds presets, the dataset's size otherwise; digits 32), attention
(full | linformer), k, sharing, steps, batch, lr, warmup (0 each: the
recipe's).

Expected: B/16 (ImageNet-21k weights) on cifar10 at 384² should reach about
99% test accuracy after 10k steps (VT's published fine-tuning figures; not
run here): that needs an accelerator (a B/16 train step of batch 512 at
384² is ~150 TFLOP).
Runs here on the 2-core CPU (measured, cores shared; docs/weights.md):

  python launch.py --config=configs/default.py:full --workdir=runs/digits16 \
      --config.total_epochs=30                     # ~1 min, test acc 0.972
  python launch.py \
      --config=configs/finetune.py:model=tiny,dataset=digits,init=runs/digits16,res=32 \
      --workdir=runs/digits16_to_32 [--config.mode=eval first: "before"]

fine-tunes the 16² digits run at 32² (17 -> 65 tokens, position embedding
resized) in 150 steps of batch 128, ~1-2.5 min: test accuracy 0.644 before
(the 16² weights at 32², resized posemb), 0.958 after; the same recipe from
scratch reaches 0.306. With `attention=linformer,k=8,res=16` (full ->
Linformer, E/F fresh): 0.100 before, 0.858 after (Linformer from scratch,
same recipe: 0.775); `res=32,attention=linformer,k=16`: 0.050 -> 0.900.
"""

from configs import common
from vit_jax.data import presets
from vit_jax.models import sizes

TINY = dict(patch_size=4, hidden_size=64, num_layers=4, num_heads=4,
            mlp_dim=128)


def get_config(arg=None):
  """arg: model=..,dataset=..,init=PATH,res=..[,attention=..,k=..,steps=..]."""
  args = common.parse_arg(arg, model='B/16', dataset='cifar10', init='',
                          res=0, attention='full', k=64, sharing='headwise',
                          steps=0, batch=0, lr=0.0, warmup=-1)
  config = common.trainer_defaults()
  tiny_data = args.dataset in ('digits', 'synthetic')
  common.set_dataset(config, args.dataset, image_size=False)
  if args.res:
    config.image_size = args.res
  elif args.dataset in presets.PRESETS:
    config.image_size = 384  # VT fine-tunes ImageNet-sized data at 384².
  elif args.dataset == 'digits':
    config.image_size = 32
  config.init_from = args.init or None

  if args.model == 'tiny':
    model = dict(TINY)
    transformer = {k: model.pop(k) for k in ('num_layers', 'num_heads',
                                             'mlp_dim')}
  else:
    parsed = sizes.parse(args.model)
    model = dict(patch_size=parsed['patch_size'],
                 hidden_size=parsed['hidden_size'])
    transformer = dict(parsed['transformer'])
  attention = common.attention(
      args.attention, image_size=config.image_size,
      patch_size=model['patch_size'], k=args.k, sharing=args.sharing)
  config.model = common.vit_model(attention=attention, **model, **transformer)

  if tiny_data:
    if args.dataset == 'digits':
      config.input.random_shift = 2
    config.input.train_ops = ('random_shift',)
  else:  # VT: inception crop + flip in training, the whole image in eval.
    config.input.train_ops = ('random_resized_crop', 'flip_lr')
    config.input.eval_ops = ('resize',)
  config.optimizer.name = 'sgd'
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 0.0
  config.grad_clip_norm = 1.0
  config.lr.decay = 'cosine'
  config.batch_size = args.batch or (128 if tiny_data else 512)
  config.eval_batch_size = config.batch_size
  config.total_steps = args.steps or (150 if tiny_data else 10_000)
  config.lr.base = args.lr or (0.03 if not tiny_data else 0.01)
  config.lr.warmup_steps = (args.warmup if args.warmup >= 0 else
                            (15 if tiny_data else 500))
  config.log_every_steps = 50 if tiny_data else 100
  config.eval_every_steps = 50 if tiny_data else 1_000
  config.checkpoint_every_steps = 50 if tiny_data else 1_000
  return config
