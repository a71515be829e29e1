r"""The seed's cats-vs-dogs recipe (lucidrains vit-pytorch `efficient.ViT` + Linformer).

224x224 RGB, patch 32 -> 49 patches + cls = 50 tokens; dim 128, depth 12,
8 heads, MLP 512; Linformer k=64 with one E and one F per layer (`headwise`,
lucidrains' default); 2 classes; Adam lr 3e-5 (constant), batch 64, 20 epochs.
The seed notebook reached 0.6855 validation accuracy on Kaggle's data.

Data: tfds `cats_vs_dogs` (train[:90%] / train[90%:]) if prepared in
array_record format under --config.data_dir; otherwise synthetic 224x224
images (so the config always runs; accuracy is then meaningless).

  python launch.py --config=configs/catsdogs.py:linformer --workdir=runs/cd_lin
  # A few steps on synthetic data:
  python launch.py --config=configs/catsdogs.py:linformer --workdir=runs/cd_smoke \
      --config.total_steps=5 --config.eval_every_steps=5

Expected on the 2-core CPU machine (measured 2026-11-24): ~1.1-1.4 s per
training step of 64 images (~50 images/s; the PyTorch seed trains at ~90), so
20 epochs of Kaggle's 22.5k training images take ~2.5 h; accuracy ~0.68 after
20 epochs is the seed's figure (not yet reproduced here). The 5-step smoke run
takes ~1 min including start-up and compilation.
"""

from configs import common

IMAGE_SIZE, PATCH_SIZE = 224, 32


def get_config(arg=None):
  """arg: 'full' | 'linformer' [,k=..,sharing=..]."""
  args = common.parse_arg(arg, attention='linformer', k=64, sharing='headwise',
                          implementation='einsum')
  config = common.trainer_defaults()
  config.dataset = 'cats_vs_dogs'
  config.dataset_fallback = 'synthetic'
  config.train_split = 'train[:90%]'
  config.test_split = 'train[90%:]'
  config.num_classes = 2
  config.image_size = IMAGE_SIZE
  config.synthetic.num_train = 22_500
  config.synthetic.num_test = 2_500
  config.synthetic.channels = 3

  attention = common.attention(
      args.attention, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, k=args.k,
      sharing=args.sharing, implementation=args.implementation)
  config.model = common.vit_model(
      patch_size=PATCH_SIZE, hidden_size=128, num_layers=12, num_heads=8,
      mlp_dim=512, attention=attention)

  config.batch_size = 64
  config.eval_batch_size = 128
  config.total_epochs = 20.0
  config.optimizer.weight_decay = 0.0  # Plain Adam, as the seed.
  config.lr.base = 3e-5
  config.lr.decay = 'constant'
  config.grad_clip_norm = 0.0
  config.log_every_steps = 20
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 500
  return config
