r"""Test accuracy of full vs Linformer attention as the sequence grows.

Two offline tasks, each at several sequence lengths n (set by image size and
patch size; cls token included):
  * pathfinder (vit_jax/data/pathfinder): are the two dots connected by a
    dashed path? Long-range by construction. 32x32 images with patch 4, 2, 1
    -> n = 65, 257, 1,025. Prepared into data_dir on first use (~30 s).
  * digits upsampled (vit_jax/data/digits): 8x8 digits resized to 32x32 and
    64x64 with patch 4 and 2 -> n = 65, 257, 1,025 (the same content seen
    through more, smaller patches).
Attention: full (einsum; 'chunked' above 1,024 tokens, where einsum's
[batch 64, heads, n, n] weights would take GiBs) and Linformer k=32 (headwise;
k < n everywhere). ViT dim 64, depth 2, 4 heads, MLP 128, AdamW lr 1e-3
(100 warm-up steps), batch 64, a fixed number of steps per point; test
accuracy on the whole test split at the end.

  python launch.py --config=configs/sweep_accuracy.py:quick --workdir=runs/sweep_acc_quick
  python launch.py --config=configs/sweep_accuracy.py --workdir=runs/sweep_acc

Writes results.csv and test_accuracy_<dataset>.png (accuracy vs n, a line per
attention).

Expected on a 2-core CPU:
  * `quick` (8 points, n <= 257, 300 steps): ~4-10 min. Test accuracy on
    digits ~0.97-0.98 with Linformer k=32 and ~0.8-0.9 with full attention;
    Pathfinder at chance (~0.50-0.51): it needs far longer training than a
    CPU allows (LRA trains for hours on accelerators).
  * `steps=600` (all 12 points, n up to 1,025): ~1 h, of which ~45 min are
    the two full points at n = 1,025. Digits: Linformer ~0.96-0.98, full
    ~0.87-0.95 (falling with n); Pathfinder still at chance.
  * The full sweep (12 points, 1,500 steps) has not been run: ~2.5 h
    estimated here (~1 h for each full point at n = 1,025). Run it on an
    accelerator, or with `steps=` lowered; `steps=30
    --config.lr.warmup_steps=10` (~6-7 min) checks that every point runs.
Measured figures: docs/results.md.
"""

from configs import common

PATHFINDER = 'pathfinder/32'
# (dataset, image_size, patch_size) -> n = (image/patch)² + 1.
GRID = (
    (PATHFINDER, 32, 4), (PATHFINDER, 32, 2), (PATHFINDER, 32, 1),
    ('digits', 32, 4), ('digits', 32, 2), ('digits', 64, 2),
)
NUM_CLASSES = {PATHFINDER: 2, 'digits': 10}


def _attentions(n: int, k: int):
  full = dict(name='full', implementation='chunked' if n > 1024 else 'einsum')
  return {'full': full,
          f'linformer_k{k}': dict(name='linformer', k=k, max_length=n,
                                  sharing='headwise')}


def get_config(arg=None):
  """arg: 'quick' (n <= 257, 300 steps) [,steps=..,k=..]."""
  args = common.parse_arg(arg, quick=False, steps=1500, k=32)
  config = common.trainer_defaults()
  config.dataset = 'digits'
  config.image_size = 32
  config.batch_size = 64
  config.eval_batch_size = 256
  config.total_steps = 300 if args.quick else args.steps
  config.lr.base = 1e-3
  config.lr.warmup_steps = 100
  config.optimizer.weight_decay = 0.05
  config.log_every_steps = 100
  config.eval_every_steps = 100_000  # Only at the end.
  config.checkpoint_every_steps = 500
  config.model = common.vit_model(
      patch_size=4, hidden_size=64, num_layers=2, num_heads=4, mlp_dim=128,
      attention=dict(name='full', implementation='einsum'))

  points = []
  for dataset, size, patch in GRID:
    n = common.num_tokens(size, patch, 'token')
    if args.quick and n > 257:
      continue
    for label, attention in _attentions(n, args.k).items():
      points.append({
          'name': f'{dataset.replace("/", "")}-n{n:05d}-{label}',
          'overrides': {'dataset': dataset, 'num_classes': NUM_CLASSES[dataset],
                        'image_size': size, 'model.patch_size': patch,
                        'model.attention': attention}})
  config.sweep = points
  if not config.sweep:
    raise ValueError(f'no sweep point matches the argument {arg!r}')
  return config
