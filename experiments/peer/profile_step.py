r"""Where the time of the catsdogs train step (or forward) goes, per HLO op.

  XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true \
      .venv/bin/python experiments/peer/profile_step.py --kind=train

Traces a few compiled steps with jax.profiler, reads the trace back with
jaxlib's ProfileData and sums the durations of the XLA:CPU thunks by HLO
instruction name; each name is classified (dot, fusion, copy, ...) from the
optimised HLO text. Wall time of the same steps is printed for comparison.
"""

import argparse
import collections
import glob
import re
import statistics
import tempfile
import time

import jax
from jax._src.lib import _profile_data

from configs import catsdogs
from vit_jax.runtime import host_malloc
from vit_jax.benchmarking import step_benchmark


def _component(op_name: str) -> str:
  """'jit(f)/transpose(jvp(VisionTransformer))/Transformer/encoderblock_3/X/y'
  -> 'bwd X/y' (layer index dropped, so the layers add up)."""
  direction = 'bwd' if 'transpose(jvp' in op_name else 'fwd'
  if op_name.startswith('state.') or 'adam' in op_name or 'opt_state' in op_name:
    direction = 'opt'
  name = re.sub(r'^jit\([\w]+\)/', '', op_name)
  name = re.sub(r'^(transpose\()?(jvp\()?VisionTransformer\)*/', '', name)
  name = re.sub(r'encoderblock_\d+/', '', name)
  name = re.sub(r'MultiHeadDotProductAttention_1', 'MHA', name)
  name = name.replace('MHA/MHA.attend/', 'attend/')
  name = re.sub(r"\[\\?'[\w]+\\?'\]", '', name)
  return f'{direction} {name}'


def components(hlo_text: str) -> dict[str, str]:
  """Instruction name -> model component from its (or its root's) metadata."""
  roots = {}
  comp = None
  out = {}
  for line in hlo_text.splitlines():
    m = re.match(r'^(?:ENTRY )?%?([\w.\-]+) .*\{$', line)
    if m and '=' not in line.split('{')[0]:
      comp = m.group(1)
    meta = re.search(r'op_name="([^"]+)"', line)
    m = re.match(r'^\s+(ROOT )?%?([\w.\-]+) = ', line)
    if not m:
      continue
    if meta:
      if m.group(1) or comp not in roots:
        roots[comp] = meta.group(1)
      out[m.group(2)] = meta.group(1)
    c = re.search(r'calls=%?([\w.\-]+)', line)
    if c and m.group(2) not in out:
      out[m.group(2)] = ('CALLS', c.group(1))
  return {k: _component(roots.get(v[1], '?') if isinstance(v, tuple) else v)
          for k, v in out.items()}


def classify(hlo_text: str) -> dict[str, str]:
  """Instruction name -> short description (opcode, shape, fused ops)."""
  kinds = {}
  fused = {}
  comp = None
  for line in hlo_text.splitlines():
    m = re.match(r'^(?:ENTRY )?%?([\w.\-]+) .*\{$', line)
    if m and '=' not in line.split('{')[0]:
      comp = m.group(1)
      fused[comp] = []
      continue
    m = re.match(r'^\s+(?:ROOT )?%?([\w.\-]+) = (\(.*?\)|\S+) ([\w\-]+)\(', line)
    if m:
      name, shape, op = m.groups()
      if comp is not None:
        fused[comp].append(op)
      desc = f'{op} {shape}'
      c = re.search(r'calls=%?([\w.\-]+)', line)
      if c:
        desc += ' calls ' + c.group(1)
      kinds[name] = desc
  out = {}
  for name, desc in kinds.items():
    c = re.search(r'calls ([\w.\-]+)', desc)
    if c and c.group(1) in fused:
      ops = collections.Counter(fused[c.group(1)])
      top = [o for o in ('dot', 'convolution', 'exponential', 'tanh', 'erf',
                         'reduce', 'transpose', 'divide', 'rsqrt', 'custom-call',
                         'dynamic-update-slice', 'concatenate', 'select')
             if o in ops]
      desc = desc.split(' calls ')[0] + ' [' + ','.join(top) + ']'
    out[name] = desc
  return out


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--kind', default='train')
  p.add_argument('--config_arg', default='linformer')
  p.add_argument('--steps', type=int, default=5)
  p.add_argument('--top', type=int, default=40)
  p.add_argument('--dump_hlo', default='')
  a = p.parse_args()
  config = catsdogs.get_config(a.config_arg)
  fn, args = step_benchmark.build_step(config, a.kind)[:2]
  compiled = fn.lower(*args).compile()
  hlo = compiled.as_text()
  if a.dump_hlo:
    with open(a.dump_hlo, 'w') as f:
      f.write(hlo)
  desc = classify(hlo)
  comps = components(hlo)

  def step(args):
    out = compiled(*args)
    jax.block_until_ready(out)
    return (out[0],) + args[1:] if a.kind == 'train' else args

  args = step(args)
  logdir = tempfile.mkdtemp()
  times = []
  with jax.profiler.trace(logdir):
    for _ in range(a.steps):
      t = time.perf_counter()
      args = step(args)
      times.append(time.perf_counter() - t)
  wall = statistics.median(times)
  path = glob.glob(f'{logdir}/**/*.xplane.pb', recursive=True)[0]
  data = _profile_data.ProfileData.from_file(path)
  total = collections.Counter()
  count = collections.Counter()
  threads = collections.Counter()
  for plane in data.planes:
    if not plane.name.startswith('/host:CPU'):
      continue
    for line in plane.lines:
      for ev in line.events:
        if ev.name in desc:
          total[ev.name] += ev.duration_ns
          count[ev.name] += 1
          threads[line.name] += ev.duration_ns
  ns = sum(total.values()) / a.steps
  print(f'wall median {wall * 1e3:.1f} ms/step; thunk time {ns / 1e6:.1f} ms/'
        f'step summed over threads {dict((k, round(v / a.steps / 1e6)) for k, v in threads.items())}')
  by_kind = collections.Counter()
  for name, t in total.items():
    d = desc[name]
    key = d.split(' ')[0]
    if key == 'fusion':
      key += ' ' + d[d.find('['):]
    by_kind[key] += t
  print('\nby kind:')
  for key, t in by_kind.most_common():
    print(f'  {t / a.steps / 1e6:8.1f} ms {t / sum(total.values()):6.1%}  {key}')
  by_comp = collections.Counter()
  for name, t in total.items():
    by_comp[comps.get(name, '?')] += t
  print('\nby model component (layers summed):')
  for key, t in by_comp.most_common(a.top):
    print(f'  {t / a.steps / 1e6:8.1f} ms {t / sum(total.values()):6.1%}  {key[:120]}')
  print(f'\ntop {a.top} instructions:')
  for name, t in total.most_common(a.top):
    print(f'  {t / a.steps / 1e6:7.2f} ms x{count[name] // a.steps:<3} {name:28} '
          f'{desc[name][:110]}')


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  main()
