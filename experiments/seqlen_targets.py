r"""Side-by-side step times of attention variants, interleaved in one process.

The machine is shared and its load drifts within minutes, so a ratio of two
separate runs means little. Here every variant is compiled in this process and
the timed steps run in rotation (A B C A B C ...), one step each (or
--steps_per_turn back to back), after one warm-up step each; a dense f32
matmul sample joins every round, so the utilisation's denominator sees the
same load. Reported per variant: median and min step time, median process CPU
time per step (all threads; less sensitive to other users than wall time) and
its system part (the kernel faulting in and zeroing the pages of the step's
freshly allocated temporaries: a third or more of full attention's step at
n = 4,097 even with huge pages, vit_jax/runtime/host_malloc.py), model FLOPs (vit_jax/benchmarking/
model_flops.py), utilisation = model FLOP/s / matmul FLOP/s (medians), XLA's
memory plan, and wall-time ratios of medians to the first variant. With
several sequence lengths of one attention, the log-log slope of step time
against n is fitted (least squares over all lengths).

A variant is LABEL=ATTENTION@H[xW][#PACKAGE][%XLA_OPTIONS]: ATTENTION is full_einsum,
full_chunked, full_xla or linformer_kK, full ones optionally followed by
integer options (full_chunked,query_chunk_size=2048,key_chunk_size=4097); the
model is configs/sweep_seqlen.py's
(dim 256, depth 4, 4 heads, patch 4, batch 1) on H x W images (W = H if
omitted), so n = (H / 4)(W / 4) + 1.
PACKAGE (default vit_jax) is an importable copy of the package, for A/B tests
of code changes (a snapshot with its imports renamed). XLA_OPTIONS are
compiler options KEY=VALUE[,...] of that variant, e.g.
%xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED.

  # P2/P3 at n = 4097, P4 at n = 1025:
  .venv/bin/python experiments/seqlen_targets.py --rounds=3 \
      full=full_einsum@256 chunked=full_chunked@256 lin=linformer_k256@256
  .venv/bin/python experiments/seqlen_targets.py --rounds=5 full=full_einsum@128
  # P5: Linformer k=256 at n = 1025, 2049, 4097, 8193, 16385:
  .venv/bin/python experiments/seqlen_targets.py --rounds=3 \
      1K=linformer_k256@128 2K=linformer_k256@128x256 4K=linformer_k256@256 \
      8K=linformer_k256@256x512 16K=linformer_k256@512

Measured figures for these commands: docs/results.md.
"""

import argparse
import importlib
import os
import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import sweep_seqlen  # noqa: E402
from vit_jax.runtime import host_malloc  # noqa: E402
from vit_jax.sweeps import grid  # noqa: E402


def _attention(spec: str, n: int) -> dict:
  spec, *options = spec.split(',')  # e.g. full_chunked,key_chunk_size=4097
  options = {k: int(v) for k, v in (o.split('=') for o in options)}
  if spec.startswith('full_'):
    return dict(name='full', implementation=spec[len('full_'):], **options)
  if spec.startswith('linformer_k'):
    return dict(name='linformer', k=int(spec[len('linformer_k'):]),
                max_length=n, sharing='headwise')
  raise ValueError(f'unknown attention {spec!r}')


def _config(attention: str, height: int, width: int):
  p = sweep_seqlen.PATCH_SIZE
  n = (height // p) * (width // p) + 1
  config = grid.apply(sweep_seqlen.get_config(), {
      'name': 'x', 'overrides': {
          'image_size': height, 'model.attention': _attention(attention, n),
      }})
  return config, n


def build(package: str, config, shape, kind: str, compiler_options=None):
  """(compiled step, args, model FLOPs, XLA plan bytes) from `package`."""
  step_benchmark = importlib.import_module(
      f'{package}.benchmarking.step_benchmark')
  fn, args, _, _, flops = step_benchmark.build_step(config, kind, shape)
  compiled = fn.lower(*args).compile(compiler_options=compiler_options)
  return compiled, args, flops, step_benchmark.xla_memory_bytes(compiled)


class Variant:
  """One compiled step and its timings; `step()` runs and times one step."""

  def __init__(self, label, spec, kind):
    spec, _, options = spec.partition('%')
    options = dict(o.split('=') for o in options.split(',') if o) or None
    body, _, self.package = spec.partition('#')
    self.package = self.package or 'vit_jax'
    self.attention, _, size = body.partition('@')
    self.label, self.kind = label, kind
    height, _, width = size.partition('x')
    height, width = int(height), int(width or height)
    config, self.n = _config(self.attention, height, width)
    start = time.perf_counter()
    self.compiled, self.args, self.flops, self.plan = build(
        self.package, config, (height, width, 3), kind, options)
    self.compile_s = time.perf_counter() - start
    self.wall, self.cpu, self.sys = [], [], []
    self.step(record=False)  # Warm-up.

  def step(self, record=True):
    w0, c0 = time.perf_counter(), time.process_time()
    s0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    out = self.compiled(*self.args)
    jax.block_until_ready(out)
    if record:
      self.wall.append(time.perf_counter() - w0)
      self.cpu.append(time.process_time() - c0)
      # The kernel's share: page faults, zeroing fresh pages (allocator).
      self.sys.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime - s0)
    if self.kind == 'train':
      self.args = (out[0],) + self.args[1:]  # The old state was donated.


def matmul_sample(size=2048):
  """FLOP/s of one jitted f32 [size, size] matmul (compiled once)."""
  if not hasattr(matmul_sample, 'fn'):
    matmul_sample.a = jnp.ones((size, size), jnp.float32)
    matmul_sample.fn = jax.jit(jnp.dot)
    jax.block_until_ready(matmul_sample.fn(matmul_sample.a, matmul_sample.a))
  start = time.perf_counter()
  jax.block_until_ready(matmul_sample.fn(matmul_sample.a, matmul_sample.a))
  return 2 * size**3 / (time.perf_counter() - start)


def loglog_slope(ns, times):
  x, y = np.log(ns), np.log(times)
  return float(np.polyfit(x, y, 1)[0])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('variants', nargs='+', help='LABEL=ATTENTION@H[xW][#PKG][%OPTS]')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--kind', default='train', choices=('train', 'forward'))
  parser.add_argument('--steps_per_turn', type=int, default=1,
                      help='steps each variant runs back to back per round')
  parser.add_argument('--matmul_samples', type=int, default=3,
                      help='matmul FLOP/s samples per round')
  args = parser.parse_args()
  print(f'loadavg at start: {open("/proc/loadavg").read().strip()}',
        flush=True)
  variants = []
  for item in args.variants:
    label, _, spec = item.partition('=')
    variants.append(Variant(label, spec, args.kind))
    v = variants[-1]
    print(f'compiled {label}: n={v.n} {v.attention} ({v.package}) in '
          f'{v.compile_s:.0f} s, XLA plan {v.plan / 2**30:.3f} GiB', flush=True)
  peaks = []
  for r in range(args.rounds):
    peaks += [matmul_sample() for _ in range(args.matmul_samples)]
    for v in variants:
      for _ in range(args.steps_per_turn):
        v.step()
    print(f'round {r + 1}: ' + ', '.join(
        f'{v.label} {v.wall[-1]:.2f} s' for v in variants), flush=True)
  print(f'loadavg at end: {open("/proc/loadavg").read().strip()}')
  peak = statistics.median(peaks)
  print(f'matmul f32 2048³: median {peak / 1e9:.1f} GFLOP/s (min '
        f'{min(peaks) / 1e9:.1f}, max {max(peaks) / 1e9:.1f}; '
        f'{len(peaks)} samples)')
  base = statistics.median(variants[0].wall)
  print(f'{"variant":>10} {"n":>6} {"median s":>9} {"min s":>7} '
        f'{"cpu s":>7} {"sys s":>6} {"GFLOP":>8} {"util":>5} {"plan GiB":>8} '
        f'{"ratio":>6}')
  for v in variants:
    med = statistics.median(v.wall)
    print(f'{v.label:>10} {v.n:6d} {med:9.3f} {min(v.wall):7.3f} '
          f'{statistics.median(v.cpu):7.2f} {statistics.median(v.sys):6.2f} '
          f'{v.flops / 1e9:8.1f} '
          f'{v.flops / med / peak:5.0%} {v.plan / 2**30:8.3f} '
          f'{med / base:6.3f}')
  by_attention = {}
  for v in variants:
    by_attention.setdefault((v.attention, v.package), []).append(v)
  for (attention, package), group in by_attention.items():
    if len({v.n for v in group}) >= 2:
      ns = [v.n for v in group]
      meds = [statistics.median(v.wall) for v in group]
      cpus = [statistics.median(v.cpu) for v in group]
      print(f'log-log slope of {attention} ({package}) step time over n = '
            f'{min(ns)}..{max(ns)}: wall {loglog_slope(ns, meds):.3f}, '
            f'cpu {loglog_slope(ns, cpus):.3f}')


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  main()
