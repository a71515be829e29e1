r"""The ViT paper's models by name: `vit.py:B/16`, `vit.py:Ti/16,attention=linformer`.

Sizes Ti/S/B/L/H with any patch size (vit_jax/models/sizes.py); parameter
names and counts match google-research/vision_transformer (B/16 at 224² with
1,000 classes: 86,567,656). ImageNet-style recipe (SGD momentum 0.9, batch
512, lr 0.03, 10k warmup of 20k steps with cosine decay, clip 1.0) as VT's
fine-tuning defaults. `dataset=` a preset (cifar10, cifar100,
oxford_iiit_pet, cats_vs_dogs, imagenet2012: classes, splits and image size
filled in; vit_jax/data/presets.py), any other prepared tfds name (give
num_classes=), or folder:DIR (class folders); an unprepared tfds dataset falls
back to synthetic data. `num_classes=` and `image_size=` override (0: the
preset's, else 1000 and 224).

  python launch.py --config=configs/vit.py:B/16 --workdir=runs/b16 \
      --config.mode=predict                     # timed forward pass on CPU
  python launch.py --config=configs/vit.py:Ti/16,dataset=imagenet2012 \
      --workdir=gs://.../ti16 --jax_distributed  # a TPU pod

Expected on the 2-core CPU machine: predict of one 224² image with B/16 takes
~10 s including compilation (the forward pass itself ~0.5 s) and prints
logits [1, 1000]. Training at these sizes is for accelerators:
a B/16 step of batch 512 is ~45 TFLOP (hours per step on this CPU).
Measured figures: docs/results.md.
"""

from configs import common
from vit_jax.models import sizes


def get_config(arg=None):
  """arg: '<size>/<patch>' [,attention=..,k=..,dataset=..,num_classes=..]."""
  args = common.parse_arg(arg, size='B/16', attention='full', k=256,
                          sharing='headwise', dataset='synthetic',
                          num_classes=0, image_size=0)
  model = sizes.parse(args.size)
  config = common.trainer_defaults()
  config.num_classes, config.image_size = 1000, 224
  common.set_dataset(config, args.dataset)
  config.num_classes = args.num_classes or config.num_classes
  config.image_size = args.image_size or config.image_size
  if not args.dataset.startswith('folder:'):
    config.dataset_fallback = 'synthetic'
  config.synthetic.num_train = 50_000
  config.synthetic.num_test = 1_000

  attention = common.attention(
      args.attention, image_size=config.image_size,
      patch_size=model['patch_size'], k=args.k, sharing=args.sharing)
  config.model = common.vit_model(
      patch_size=model['patch_size'], hidden_size=model['hidden_size'],
      attention=attention, **model['transformer'])

  config.batch_size = 512
  config.eval_batch_size = 512
  config.total_steps = 20_000
  config.optimizer.name = 'sgd'
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 0.0
  config.lr.base = 0.03
  config.lr.warmup_steps = 10_000
  config.log_every_steps = 100
  config.eval_every_steps = 2_000
  config.checkpoint_every_steps = 1_000
  return config
