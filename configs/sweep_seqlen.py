r"""Speed and memory of full vs Linformer attention as the sequence grows.

ViT dim 256, depth 4, 4 heads, MLP 1024, patch 4, batch 1, synthetic images
of side 32..512 -> n = 65..16,385 tokens (cls included). Attention: full
(einsum), full (jax.nn.dot_product_attention, 'xla'), full (memory-efficient
'chunked'), Linformer k in {64, 128, 256} (headwise; only where k < n).
For each point and each of {train step, forward pass}: compile time, step time
(median/min/max of `benchmark.steps` after a warm-up), images/s, tokens/s,
XLA's memory plan, the measured step memory (RSS growth while the steps run:
on XLA:CPU, YNNPACK fusions allocate outside XLA's plan: the full-attention
forward pass at n = 4,097 plans 0.05 GiB and grows RSS by 0.55 GiB), peak RSS,
model FLOPs (the matmuls by definition, train = 3 x forward;
vit_jax/benchmarking/model_flops.py) next to XLA's cost-analysis FLOPs (which
count a loop body once: 'chunked' came out at 40%), model FLOP/s and their
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

Measured on the 2-core CPU machine (2026-12-01; experiments/seqlen_targets.py:
variants interleaved in one process, medians; 5-7 rounds), train step at
n = 4,097: Linformer k=256 0.29-0.35 s (57-63% of the matmul FLOP/s measured
alongside; XLA plan 0.53 GiB). Full einsum 1.04-1.26 s (55-58%) with malloc
keeping its memory (see vit_jax/host_malloc.py), 1.2-2.2 s with the default
huge pages, where the kernel zeroes its 1.6 GiB of fresh temporaries every
step (0.4-1.6 s of system time): run compute-bound, Linformer is 3.6-3.8x
faster, for 3.45x fewer model FLOPs (78.5 vs 271 GFLOP). Chunked 1.23-1.43 s
= 1.03-1.14x einsum compute-bound (0.82x under the default), plan 0.53 GiB;
at n = 16,385: 21.5 s per step, plan 1.68 GiB. At n = 1,025 the einsum train
step reached 46-55% of the matmul FLOP/s (53-55% with malloc keeping its
memory). Linformer k=256 from n = 1,025 to 16,385: 0.079 / 0.155 / 0.301 /
0.629 / 1.31 s, log-log slope 1.01. For long sequences set
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
