r"""A/B of train steps / forward passes, interleaved step by step in ONE process.

The machine is shared, so load drifts by 2x within minutes. Here every
variant is compiled in the same process and timed one step at a time in
rotation (A B C A B C ...), so drifting load hits all variants alike. Wall
time and process CPU time (all threads) are reported; CPU time is much less
sensitive to other users' load and shows the work done.

A variant is NAME=PACKAGE[@XLA_FLAGS][^GLIBC_TUNABLES]: PACKAGE is an
importable copy of vit_jax (e.g. `vit_jax`, or a snapshot copied to
/tmp/basepkg/vit_jax_base with its imports renamed); XLA_FLAGS and
GLIBC_TUNABLES (malloc settings, vit_jax/runtime/host_malloc.py) are that variant's
environment. With --steps_per_turn=S each turn runs S steps back to back
(the median of their times counts): between turns a worker idles, and
that changes how the allocator behaves on the next step. Each
variant lives in its own worker process (so flags apply), and the driver
tells the workers one at a time to run one step.

  PYTHONPATH=.:/tmp/basepkg .venv/bin/python experiments/peer/interleave.py \
      base=vit_jax_base new=vit_jax fm=vit_jax@--xla_cpu_enable_fast_math=true
"""

import argparse
import importlib
import statistics
import time

import jax

from configs import catsdogs
from vit_jax.runtime import host_malloc


def build(package: str, config, kind: str, options: dict):
  """(compiled step, args, XLA's FLOPs) from `package`."""
  step_benchmark = importlib.import_module(
      f'{package}.benchmarking.step_benchmark')
  fn, args = step_benchmark.build_step(config, kind)[:2]
  compiled = fn.lower(*args).compile(compiler_options=options or None)
  flops = compiled.cost_analysis().get('flops', float('nan'))
  return compiled, args, flops


def worker(package, kind, config_arg):
  import os
  import sys
  config = catsdogs.get_config(config_arg)
  compiled, args, flops = build(package, config, kind, {})
  out = compiled(*args)
  jax.block_until_ready(out)
  if kind == 'train':
    args = (out[0],) + args[1:]
  print(f'READY {flops}', flush=True)
  for line in sys.stdin:
    if line.strip() != 'step':
      break
    w0, c0 = time.perf_counter(), time.process_time()
    out = compiled(*args)
    jax.block_until_ready(out)
    w, c = time.perf_counter() - w0, time.process_time() - c0
    if kind == 'train':
      args = (out[0],) + args[1:]
    print(f'{w} {c}', flush=True)
  os._exit(0)


def main():
  import os
  import subprocess
  import sys
  p = argparse.ArgumentParser()
  p.add_argument('variants', nargs='*')
  p.add_argument('--kind', default='train', choices=['train', 'forward'])
  p.add_argument('--rounds', type=int, default=15)
  p.add_argument('--steps_per_turn', type=int, default=1)
  p.add_argument('--config_arg', default='linformer')
  p.add_argument('--worker', default='')
  a = p.parse_args()
  if a.worker:
    return worker(a.worker, a.kind, a.config_arg)
  config = catsdogs.get_config(a.config_arg)
  variants = []
  for spec in a.variants:
    name, _, rest = spec.partition('=')
    rest, _, tunables = rest.partition('^')
    package, _, flags = rest.partition('@')
    env = dict(os.environ, XLA_FLAGS=flags)
    if tunables:
      env['GLIBC_TUNABLES'] = tunables
    proc = subprocess.Popen(
        [sys.executable, __file__, f'--worker={package}', f'--kind={a.kind}',
         f'--config_arg={a.config_arg}'], env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=open(f'/tmp/interleave_{name}.log', 'w'),
        text=True)
    variants.append(dict(name=name, proc=proc, wall=[], cpu=[]))
  for v in variants:  # Compiles run in parallel; wait for all.
    line = v['proc'].stdout.readline()
    if not line.startswith('READY'):
      raise RuntimeError(f'{v["name"]} failed to start')
    v['flops'] = float(line.split()[1])
    print(f'{v["name"]}: ready, {v["flops"] / 1e9:.1f} GFLOP/step', flush=True)
  for r in range(a.rounds + 1):
    for v in variants[r % len(variants):] + variants[:r % len(variants)]:
      times = []
      for _ in range(a.steps_per_turn):
        v['proc'].stdin.write('step\n')
        v['proc'].stdin.flush()
        line = v['proc'].stdout.readline()
        if not line.strip():
          raise RuntimeError(
              f'{v["name"]} died: see /tmp/interleave_{v["name"]}.log')
        times.append(tuple(map(float, line.split())))
      w = statistics.median(t[0] for t in times)
      c = statistics.median(t[1] for t in times)
      if r:  # Round 0 warms up.
        v['wall'].append(w)
        v['cpu'].append(c)
  for v in variants:
    v['proc'].stdin.close()
    v['proc'].wait()
  base = variants[0]
  bw, bc = statistics.median(base['wall']), statistics.median(base['cpu'])
  for v in variants:
    w, c = statistics.median(v['wall']), statistics.median(v['cpu'])
    # Per-round ratio base/variant: pairs the steps run at nearly the same time.
    ratios = [x / y for x, y in zip(base['wall'], v['wall'])]
    print(f'{a.kind:>7} {v["name"]:>12}: wall median {w * 1e3:7.1f} ms '
          f'(min {min(v["wall"]) * 1e3:6.1f}; {config.batch_size / w:6.1f} '
          f'img/s), cpu median {c * 1e3:7.1f} ms; speed-up vs '
          f'{base["name"]}: wall {bw / w:.3f}x (median paired '
          f'{statistics.median(ratios):.3f}x), cpu {bc / c:.3f}x', flush=True)


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  main()
