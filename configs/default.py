r"""The default experiment: a small ViT on the embedded 8x8 digits, offline.

sklearn's 1,797 real handwritten digits (1,437 train / 360 test, fixed split:
vit_jax/data/digits) upsampled to 16x16, patch 4 -> 16 patches + cls = 17
tokens; dim 64, depth 4, 4 heads, MLP 128; Linformer k=8 (headwise).

Run (argument: `full` or `linformer`, plus optional key=value):

  python launch.py --config=configs/default.py:full --workdir=runs/digits_full
  python launch.py --config=configs/default.py:linformer \
      --workdir=runs/digits_linformer

Expected on a 2-core CPU: ~30-60 s of training after start-up; test
accuracy >= 0.98 for both variants. Measured figures: docs/results.md.

`default.py:full,bf16` computes the matmuls in bfloat16 (parameters, softmax
sums, logits and loss in float32; Adam's first moment in bfloat16): test
accuracy >= 0.98 as well; on a CPU without native bf16 matmuls it trains
about 2x slower (~2 min).
"""

from configs import common


def get_config(arg=None):
  """Returns the config; arg = 'full' | 'linformer' [,k=..,sharing=..]."""
  args = common.parse_arg(arg, attention='full', k=8, sharing='headwise',
                          implementation='einsum', bf16=False)
  config = common.trainer_defaults()
  config.dataset = 'digits'
  config.num_classes = 10
  config.image_size = 16
  config.input.random_shift = 1

  patch_size = 4
  attention = common.attention(
      args.attention, image_size=config.image_size, patch_size=patch_size,
      k=args.k, sharing=args.sharing, implementation=args.implementation)
  config.model = common.vit_model(
      patch_size=patch_size, hidden_size=64, num_layers=4, num_heads=4,
      mlp_dim=128, attention=attention,
      # bf16: matmuls in bfloat16; parameters, LayerNorm statistics, softmax
      # sums, logits and the loss stay float32.
      dtype='bfloat16' if args.bf16 else 'float32')
  if args.bf16:
    config.optimizer.mu_dtype = 'bfloat16'  # Adam's second moment stays f32.

  config.batch_size = 128
  config.total_epochs = 100.0
  config.lr.base = 2e-3
  config.lr.warmup_steps = 100
  config.optimizer.weight_decay = 0.05
  config.label_smoothing = 0.1
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 200
  return config
