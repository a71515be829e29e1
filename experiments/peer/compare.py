r"""JAX vs the PyTorch peer on the catsdogs Linformer config, side by side.

  .venv/bin/python experiments/peer/compare.py --rounds=3

Alternates `experiments/peer/peer_benchmark.py` (in the peer venv) and
`python -m vit_jax.benchmarking --config=configs/catsdogs.py:linformer` for
`--rounds` rounds and prints the medians of images/s and the ratios JAX/peer
for training and inference.

The machine is shared: before each run it waits (up to --quiet_wait_s) until
other processes use less than --quiet_threshold of the CPUs, and it records
how much CPU other processes took *during* each run ("others"). PyTorch's
OpenMP threads collapse under foreign load (a 2-thread step gets several times
slower when a third process competes for the 2 cores), far more than XLA's,
so ratios from runs with others > ~10% overstate JAX's lead; they are flagged.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEER_PYTHON = os.path.join(HERE, '.venv', 'bin', 'python')
CONFIG = 'configs/catsdogs.py:linformer'


def _cpu_ticks():
  """(busy, total) jiffies of all CPUs from /proc/stat."""
  with open('/proc/stat') as f:
    fields = [int(x) for x in f.readline().split()[1:]]
  idle = fields[3] + fields[4]  # idle + iowait
  total = sum(fields[:8])
  return total - idle, total


def _busy_fraction(seconds: float) -> float:
  b0, t0 = _cpu_ticks()
  time.sleep(seconds)
  b1, t1 = _cpu_ticks()
  return (b1 - b0) / max(t1 - t0, 1)


def wait_for_quiet(threshold: float, max_wait_s: float) -> float:
  """Waits until others' CPU use is below threshold; returns the last reading."""
  deadline = time.time() + max_wait_s
  busy = _busy_fraction(2.0)
  while busy > threshold and time.time() < deadline:
    time.sleep(5)
    busy = _busy_fraction(2.0)
  return busy


def run_measured(cmd, env=None):
  """Runs cmd; returns (stdout, others' CPU share during the run)."""
  hz = os.sysconf('SC_CLK_TCK')
  ncpu = os.cpu_count()
  b0, _ = _cpu_ticks()
  r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
  w0 = time.time()
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
  wall = time.time() - w0
  b1, _ = _cpu_ticks()
  r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
  ours = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
  others = max(0.0, (b1 - b0) / hz - ours) / (ncpu * wall)
  if proc.returncode:
    sys.exit(f'failed: {" ".join(cmd)}\n{proc.stderr[-2000:]}')
  return proc.stdout, others


def peer(steps: int, huge_pages: bool) -> tuple[dict, float]:
  env = dict(os.environ)
  if huge_pages:  # The same glibc setting JAX's entry points use, plus
    # PyTorch's own switch for huge pages in its CPU allocator.
    env['GLIBC_TUNABLES'] = 'glibc.malloc.hugetlb=1'
    env['THP_MEM_ALLOC_ENABLE'] = '1'
  out, others = run_measured([PEER_PYTHON, os.path.join(HERE, 'peer_benchmark.py'),
                              f'--steps={steps}', '--json'], env=env)
  rows = [json.loads(l[7:]) for l in out.splitlines() if l.startswith('RESULT ')]
  return {r['kind']: r['images_per_s'] for r in rows}, others


def jax_bench(steps: int, xla_flags: str | None) -> tuple[dict, float]:
  env = dict(os.environ)
  if xla_flags is not None:
    env['XLA_FLAGS'] = xla_flags
  out, others = run_measured(
      [sys.executable, '-m', 'vit_jax.benchmarking', f'--config={CONFIG}',
       f'--steps={steps}'], env=env)
  result = {}
  for line in out.splitlines():
    m = re.match(r'\s*(train|forward):\s+([\d.]+) images/s', line)
    if m:
      result[m.group(1)] = float(m.group(2))
  return result, others


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--rounds', type=int, default=3)
  p.add_argument('--steps', type=int, default=10, help='timed steps per run')
  p.add_argument('--quiet_threshold', type=float, default=0.10)
  p.add_argument('--quiet_wait_s', type=float, default=300)
  p.add_argument('--xla_flags', default=None,
                 help='XLA_FLAGS for the JAX runs (default: inherited)')
  p.add_argument('--peer_huge_pages', action='store_true',
                 help='run the peer with transparent huge pages too '
                 '(vit_jax/runtime/host_malloc.py; JAX has them unless '
                 'GLIBC_TUNABLES=glibc.malloc.hugetlb=0 is set)')
  a = p.parse_args()
  if not os.path.exists(PEER_PYTHON):
    sys.exit(f'no peer venv at {PEER_PYTHON}: see {HERE}/README.md')
  from vit_jax.runtime import cpu_info
  jax_flags = (os.environ.get('XLA_FLAGS', '') if a.xla_flags is None
               else a.xla_flags)
  jax_cap = re.search(r'--xla_cpu_max_isa=(\S+)', jax_flags)
  print(f'machine: {cpu_info.model_name()}, {os.cpu_count()} cores, '
        f'{cpu_info.isa()}; JAX ISA cap: '
        f'{jax_cap.group(1) if jax_cap else "none"}; peer '
        f'ATEN_CPU_CAPABILITY: {os.environ.get("ATEN_CPU_CAPABILITY", "default")}',
        flush=True)
  results = {'jax': [], 'peer': []}
  for r in range(a.rounds):
    order = ['peer', 'jax'] if r % 2 == 0 else ['jax', 'peer']
    for who in order:
      before = wait_for_quiet(a.quiet_threshold, a.quiet_wait_s)
      if who == 'peer':
        row, others = peer(a.steps, a.peer_huge_pages)
      else:
        row, others = jax_bench(a.steps, a.xla_flags)
      results[who].append((row, others))
      flag = '  (LOADED: ratio unreliable)' if others > a.quiet_threshold else ''
      print(f'round {r} {who:>4}: train {row["train"]:6.1f} img/s, forward '
            f'{row["forward"]:6.1f} img/s; others used {before:.0%} of the CPUs '
            f'before, {others:.0%} during{flag}', flush=True)
  print()
  for kind in ('train', 'forward'):
    med = {w: statistics.median(r[0][kind] for r in results[w]) for w in results}
    print(f'{kind:>7}: JAX {med["jax"]:6.1f} img/s, peer {med["peer"]:6.1f} '
          f'img/s (medians of {a.rounds}), JAX/peer = {med["jax"] / med["peer"]:.2f}x')
  worst = max(o for w in results for _, o in results[w])
  print(f'others\' CPU share during runs: max {worst:.0%}')


if __name__ == '__main__':
  main()
