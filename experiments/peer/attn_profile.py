"""Per-thunk profile of one Linformer attention block, fwd+bwd (see attn_micro)."""
import collections, glob, sys, tempfile
import jax, jax.numpy as jnp
from jax._src.lib import _profile_data
sys.path.insert(0, 'experiments/peer')
import attn_micro, profile_step

name = sys.argv[1] if len(sys.argv) > 1 else 'base'
params, base_fn = attn_micro.module_fn()
fn = base_fn if name == 'base' else attn_micro.VARIANTS[name]
x = jax.random.normal(jax.random.key(1), (64, 50, 128))
wgt = jax.random.normal(jax.random.key(2), (64, 50, 128))
f = jax.jit(jax.grad(lambda p, x: jnp.sum(fn(p, x) * wgt), argnums=(0, 1)))
c = f.lower(params, x).compile()
hlo = c.as_text()
open(f'/tmp/attn_{name}.hlo', 'w').write(hlo)
desc = profile_step.classify(hlo)
jax.block_until_ready(c(params, x))
d = tempfile.mkdtemp()
S = 10
with jax.profiler.trace(d):
  for _ in range(S):
    jax.block_until_ready(c(params, x))
data = _profile_data.ProfileData.from_file(glob.glob(f'{d}/**/*.xplane.pb', recursive=True)[0])
tot = collections.Counter(); lines = collections.Counter()
for plane in data.planes:
  for line in plane.lines:
    for ev in line.events:
      if ev.name in desc:
        tot[ev.name] += ev.duration_ns; lines[line.name] += ev.duration_ns
print({k: v / S / 1e6 for k, v in lines.items()})
print(f'total {sum(tot.values()) / S / 1e6:.2f} ms')
comps = profile_step.components(hlo)
for n, t in tot.most_common(60):
  print(f'{t / S / 1e6:7.3f} ms {n:26} {desc[n][:60]:60} {comps.get(n, "?")[:90]}')

# Timeline: union of busy intervals vs span, per step.
evs = []
for plane in data.planes:
  for line in plane.lines:
    for ev in line.events:
      evs.append((ev.start_ns, ev.end_ns, line.name, ev.name))
evs.sort()
t0, t1 = evs[0][0], max(e[1] for e in evs)
print(f'span all {(t1 - t0) / 1e6 / S:.2f} ms/step')
names = collections.Counter(e[3] for e in evs if e[3] not in desc)
print('non-thunk events:', names.most_common(15))
# busy union of thunk events
iv = sorted((e[0], e[1]) for e in evs if e[3] in desc)
busy = 0; cur_s, cur_e = iv[0]
for s, e in iv[1:]:
  if s > cur_e:
    busy += cur_e - cur_s; cur_s, cur_e = s, e
  else:
    cur_e = max(cur_e, e)
busy += cur_e - cur_s
print(f'union of thunk intervals {busy / 1e6 / S:.2f} ms/step')
