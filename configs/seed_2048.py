r"""The seed's long-sequence example: a Linformer ViT on 2048x2048 images.

Patch 32 -> 64x64 = 4,096 patches + cls = 4,097 tokens; dim 512, depth 12,
8 heads, MLP 2048, Linformer k=256 (headwise), 1,000 classes.
Data: synthetic 2048x2048 images (no such dataset ships offline).

One timed forward pass on one image (the default mode of this config):

  python launch.py --config=configs/seed_2048.py --workdir=runs/seed_2048

Expected on the 2-core CPU machine: ~20 s for start-up and compilation, then
a forward pass of a few seconds; prints logits [1, 1000]. Training is
possible (--config.mode=train) but takes minutes per step on CPU.
`seed_2048.py:full` gives the same model with full attention. Measured
figures: docs/results.md.
"""

from configs import common

IMAGE_SIZE, PATCH_SIZE = 2048, 32


def get_config(arg=None):
  """arg: 'linformer' (default) | 'full' [,k=..,sharing=..]."""
  args = common.parse_arg(arg, attention='linformer', k=256,
                          sharing='headwise', implementation='einsum')
  config = common.trainer_defaults()
  config.mode = 'predict'
  config.dataset = 'synthetic'
  config.num_classes = 1000
  config.image_size = IMAGE_SIZE
  config.synthetic.num_train = 1000
  config.synthetic.num_test = 100
  config.synthetic.channels = 3

  attention = common.attention(
      args.attention, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, k=args.k,
      sharing=args.sharing, implementation=args.implementation)
  config.model = common.vit_model(
      patch_size=PATCH_SIZE, hidden_size=512, num_layers=12, num_heads=8,
      mlp_dim=2048, attention=attention)

  config.batch_size = 8
  config.eval_batch_size = 8
  config.total_steps = 100
  config.lr.base = 1e-4
  config.lr.warmup_steps = 10
  config.log_every_steps = 1
  config.eval_every_steps = 100
  config.checkpoint_every_steps = 10
  return config
