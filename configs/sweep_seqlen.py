r"""Speed and memory of full vs Linformer attention as the sequence grows.

ViT dim 256, depth 4, 4 heads, MLP 1024, patch 4, batch 1, synthetic images
of side 32..512 -> n = 65..16,385 tokens (cls included). Attention: full
(einsum), full (jax.nn.dot_product_attention, 'xla'), full (memory-efficient
'chunked'), Linformer k in {64, 128, 256} (headwise; only where k < n).
For each point and each of {train step, forward pass}: compile time, step time
(median/min/max of `benchmark.steps` after a warm-up), images/s, tokens/s,
XLA's memory plan, the measured step memory (RSS growth while the steps run:
on XLA:CPU, YNNPACK fusions allocate outside XLA's plan, so for full
attention's forward pass RSS can grow by ~10x the plan), peak RSS,
model FLOPs (the matmuls by definition, train = 3 x forward;
vit_jax/benchmarking/model_flops.py) next to XLA's cost-analysis FLOPs (which
count a loop body once, so undercount 'chunked'), model FLOP/s and their
fraction of the dense f32 matmul FLOP/s measured in the same point.

  python launch.py --config=configs/sweep_seqlen.py --workdir=runs/sweep_seqlen
  python launch.py --config=configs/sweep_seqlen.py:quick --workdir=runs/sweep_quick
  # The targets' subset: train steps of three variants from n = 1,025 up.
  python launch.py --workdir=runs/sweep_targets \
      --config=configs/sweep_seqlen.py:kinds=train,min_n=1025,only=full_einsum+full_chunked+linformer_k256

Writes results.csv / results.jsonl, *_step_time.png, *_memory.png,
*_step_rss.png, *_peak_rss.png, *_utilization.png and one folder per point;
re-running skips finished points. Points whose XLA memory plan exceeds
`sweep_memory_limit_gb` are recorded as out of memory without running (full
einsum/xla at n = 16,385), and points killed for memory are recorded as such.

Expected on a 2-core CPU (train steps; experiments/seqlen_targets.py runs
the same models interleaved in one process, for ratios on a shared machine):
at n = 4,097, Linformer k=256 ~0.3-0.35 s and full einsum ~1.0-1.3 s when
both are compute-bound (malloc keeping its memory, below), i.e. Linformer
~3.5-4x faster for ~3.5x fewer model FLOPs, both at ~55-65% of the matmul
FLOP/s; under the default huge pages full attention takes up to ~2.2 s, the
kernel zeroing its fresh temporaries every step (vit_jax/runtime/host_malloc.py).
XLA's plan: Linformer about a third of full einsum's (~0.5 vs ~1.6 GiB).
Chunked within ~1.0-1.15x einsum's step at a third of its plan; at
n = 16,385 it trains at ~20-30 s per step with a plan under 2 GiB (einsum
would need 57.5 GiB). At n = 1,025 the einsum train step runs at ~45-65% of
the matmul FLOP/s. Linformer's step time grows about linearly in n (log-log
slope ~1.0-1.1 from n = 1,025 to 16,385). `quick,kinds=train` (22 points)
takes ~10 min. Measured figures: docs/results.md. For long sequences set
GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=17179869184
before launching. The full sweep takes hours, dominated by full attention at n >= 9,217: run it
with `only=`/`max_n=` subsets or on an accelerator.
"""

from configs import common

PATCH_SIZE = 4
IMAGE_SIZES = (32, 64, 96, 128, 192, 256, 384, 512)  # n = (S/4)² + 1.
QUICK_IMAGE_SIZES = (32, 64, 96, 128)
ATTENTIONS = (
    dict(name='full', implementation='einsum'),
    dict(name='full', implementation='xla'),
    dict(name='full', implementation='chunked'),
)
LINFORMER_KS = (64, 128, 256)


def _points(image_sizes, kinds, labels):
  points = []
  for size in image_sizes:
    n = common.num_tokens(size, PATCH_SIZE, 'token')
    attentions = list(ATTENTIONS) + [
        dict(name='linformer', k=k, max_length=n, sharing='headwise')
        for k in LINFORMER_KS if k < n]
    for attention in attentions:
      label = attention['name'] + '_' + str(
          attention.get('implementation', f'k{attention.get("k")}'))
      if labels and label not in labels:
        continue
      for kind in kinds:
        points.append({
            'name': f'{kind}-n{n:05d}-{label}',
            'overrides': {'image_size': size, 'model.attention': attention,
                          'benchmark.kind': kind}})
  return points


def get_config(arg=None):
  """arg: comma-separated options, all optional.

  quick: only n <= 1,025.  min_n=, max_n=: bounds on n.  steps=: timed steps.
  kinds=train+forward: what to time.  only=full_einsum+linformer_k256: keep
  these attention labels (point names end with them).
  """
  args = common.parse_arg(arg, quick=False, steps=3, kinds='train+forward',
                          only='', min_n=0, max_n=1 << 20)
  config = common.trainer_defaults()
  config.mode = 'benchmark'
  config.dataset = 'synthetic'
  config.num_classes = 10
  config.image_size = 32
  config.synthetic.num_train = 64
  config.synthetic.num_test = 8
  config.synthetic.channels = 3
  config.batch_size = 1
  config.eval_batch_size = 1
  config.total_steps = 1
  config.benchmark.steps = args.steps
  config.model = common.vit_model(
      patch_size=PATCH_SIZE, hidden_size=256, num_layers=4, num_heads=4,
      mlp_dim=1024, attention=dict(name='full', implementation='einsum'))
  sizes = [s for s in (QUICK_IMAGE_SIZES if args.quick else IMAGE_SIZES)
           if args.min_n <= common.num_tokens(s, PATCH_SIZE, 'token')
           <= args.max_n]
  config.sweep = _points(sizes, args.kinds.split('+'),
                         set(filter(None, args.only.split('+'))))
  if not config.sweep:
    raise ValueError(f'no sweep point matches the argument {arg!r}')
  return config
