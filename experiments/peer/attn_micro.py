"""Interleaved CPU/wall timing of attention-block formulations, fwd+bwd.

Each variant maps (params, x) -> y for x [64, 50, 128]; the loss is
sum(y * w) and the gradient is taken w.r.t. params and x, as in training.
"""
import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from vit_jax import attention

B, N, D, H, K = 64, 50, 128, 8, 64
d = D // H


def module_fn(package=None):
  import importlib
  att = importlib.import_module(package + '.attention') if package else attention
  mod = att.get('linformer')(num_heads=H, k=K, max_length=N,
                             sharing='headwise')
  x = jnp.zeros((B, N, D))
  params = mod.init(jax.random.key(0), x)
  return params, lambda p, x: mod.apply(p, x)


def dense(x, p):  # x [B,N,D], kernel [D,H,d]
  return jnp.einsum('bnD,Dhd->bnhd', x, p['kernel']) + p['bias']


def v_heads_major(params, x):
  p = params['params']
  q = dense(x, p['query'])
  k = dense(x, p['key'])
  v = dense(x, p['value'])
  E = p['key_projection']['kernel'][:N]
  F = p['value_projection']['kernel'][:N]
  kT = k.transpose(0, 2, 3, 1)  # [B,H,d,N]
  vT = v.transpose(0, 2, 3, 1)
  kpT = kT @ E  # [B,H,d,K]
  vpT = vT @ F  # [B,H,d,K]
  qh = q.transpose(0, 2, 1, 3) / jnp.sqrt(d).astype(q.dtype)  # [B,H,N,d]
  logits = qh @ kpT  # [B,H,N,K]
  w = jax.nn.softmax(logits, axis=-1)
  o = jnp.einsum('bhnk,bhdk->bnhd', w, vpT)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


def v_bcast_proj(params, x):
  """Projection as a batched matmul with E broadcast over the batch."""
  p = params['params']
  q = dense(x, p['query'])
  k = dense(x, p['key']).reshape(B, N, D)
  v = dense(x, p['value']).reshape(B, N, D)
  E = jnp.broadcast_to(p['key_projection']['kernel'][:N].T, (B, K, N))
  F = jnp.broadcast_to(p['value_projection']['kernel'][:N].T, (B, K, N))
  kp = (E @ k).reshape(B, K, H, d)
  vp = (F @ v).reshape(B, K, H, d)
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, kp) / jnp.sqrt(d)
  w = jax.nn.softmax(logits, axis=-1)
  o = jnp.einsum('bhqk,bkhd->bqhd', w, vp)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


def v_fused_qkv(params, x):
  p = params['params']
  W = jnp.stack([p[n]['kernel'] for n in ('query', 'key', 'value')], 1)
  bias = jnp.stack([p[n]['bias'] for n in ('query', 'key', 'value')], 0)
  qkv = jnp.einsum('bnD,Dchd->cbnhd', x, W) + bias[:, None, None]
  q, k, v = qkv[0], qkv[1], qkv[2]
  E = p['key_projection']['kernel'][:N]
  F = p['value_projection']['kernel'][:N]
  kp = jnp.einsum('bnhd,nk->bkhd', k, E)
  vp = jnp.einsum('bnhd,nk->bkhd', v, F)
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, kp) / jnp.sqrt(d)
  w = jax.nn.softmax(logits, axis=-1)
  o = jnp.einsum('bhqk,bkhd->bqhd', w, vp)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


VARIANTS = {'heads_major': v_heads_major, 'bcast_proj': v_bcast_proj,
            'fused_qkv': v_fused_qkv}


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--variants', default='heads_major,bcast_proj,fused_qkv')
  ap.add_argument('--rounds', type=int, default=30)
  ap.add_argument('--forward', action='store_true')
  a = ap.parse_args()
  params, base_fn = module_fn()
  x = jax.random.normal(jax.random.key(1), (B, N, D))
  wgt = jax.random.normal(jax.random.key(2), (B, N, D))
  fns = {'base': base_fn}
  opts = {}
  for spec in a.variants.split(','):
    if not spec:
      continue
    name, _, opt = spec.partition('@')
    if name.startswith('pkg:'):
      fns[spec] = module_fn(name[4:])[1]
    else:
      fns[spec] = base_fn if name == 'base' else VARIANTS[name]
    opts[spec] = {}
    for item in filter(None, opt.split(';')):
      k, _, v = item.partition('=')
      opts[spec][k] = (v.lower() == 'true') if v.lower() in ('true', 'false') else (int(v) if v.isdigit() else v)
  want = base_fn(params, x)
  runs = {}
  for name, fn in fns.items():
    if name != "no_core": np.testing.assert_allclose(fn(params, x), want, atol=2e-5, rtol=1e-4)
    if a.forward:
      f = jax.jit(fn)
    else:
      f = jax.jit(jax.grad(lambda p, x, fn=fn: jnp.sum(fn(p, x) * wgt),
                           argnums=(0, 1)))
    c = f.lower(params, x).compile(compiler_options=opts.get(name) or None)
    jax.block_until_ready(c(params, x))
    runs[name] = (c, [], [])
  for r in range(a.rounds):
    for name, (c, wall, cpu) in runs.items():
      w0, c0 = time.perf_counter(), time.process_time()
      jax.block_until_ready(c(params, x))
      wall.append(time.perf_counter() - w0)
      cpu.append(time.process_time() - c0)
  bw = statistics.median(runs['base'][1])
  bc = statistics.median(runs['base'][2])
  for name, (c, wall, cpu) in runs.items():
    w, cc = statistics.median(wall), statistics.median(cpu)
    print(f'{name:>12}: wall median {w * 1e3:6.2f} ms min {min(wall) * 1e3:6.2f}'
          f', cpu median {cc * 1e3:6.2f} ms; vs base wall {bw / w:.2f}x '
          f'cpu {bc / cc:.2f}x')



def v_no_core(params, x):
  """Projections only (attention core replaced by q + mean of kp, vp): cost floor."""
  p = params['params']
  q = dense(x, p['query'])
  k = dense(x, p['key'])
  v = dense(x, p['value'])
  o = q + k.mean(1, keepdims=True) + v.mean(1, keepdims=True)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


def _softmax_attention(q, kp, vp):
  """q [B,N,H,d] (already scaled), kp/vp [B,K,H,d]."""
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, kp)
  w = jax.nn.softmax(logits, axis=-1)
  return jnp.einsum('bhqk,bkhd->bqhd', w, vp)


def v_scaled_q(params, x):
  """bcast_proj + the 1/sqrt(d) scale folded into q."""
  p = params['params']
  q = dense(x, p['query']) * (1 / np.sqrt(d)).astype(np.float32)
  k = dense(x, p['key']).reshape(B, N, D)
  v = dense(x, p['value']).reshape(B, N, D)
  E = jnp.broadcast_to(p['key_projection']['kernel'][:N].T, (B, K, N))
  F = jnp.broadcast_to(p['value_projection']['kernel'][:N].T, (B, K, N))
  kp = (E @ k).reshape(B, K, H, d)
  vp = (F @ v).reshape(B, K, H, d)
  o = _softmax_attention(q, kp, vp)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


def v_chunked_core(params, x, chunk=8):
  """scaled_q, with the attention core mapped over batch chunks (cache-sized)."""
  p = params['params']
  q = dense(x, p['query']) * (1 / np.sqrt(d)).astype(np.float32)
  k = dense(x, p['key']).reshape(B, N, D)
  v = dense(x, p['value']).reshape(B, N, D)
  E = jnp.broadcast_to(p['key_projection']['kernel'][:N].T, (B, K, N))
  F = jnp.broadcast_to(p['value_projection']['kernel'][:N].T, (B, K, N))
  kp = (E @ k).reshape(B, K, H, d)
  vp = (F @ v).reshape(B, K, H, d)
  split = lambda t: t.reshape((B // chunk, chunk) + t.shape[1:])
  o = jax.lax.map(lambda a: _softmax_attention(*a), (split(q), split(kp), split(vp)))
  o = o.reshape(B, N, H, d)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


VARIANTS.update(no_core=v_no_core, scaled_q=v_scaled_q, chunked_core=v_chunked_core)



@jax.custom_vjp
def softmax_cv(x):
  return jax.nn.softmax(x, axis=-1)

def _sm_fwd(x):
  w = jax.nn.softmax(x, axis=-1)
  return w, w

def _sm_bwd(w, g):
  return (w * (g - jnp.sum(g * w, axis=-1, keepdims=True)),)

softmax_cv.defvjp(_sm_fwd, _sm_bwd)


def _proj(p, x):
  q = dense(x, p['query']) * (1 / np.sqrt(d)).astype(np.float32)
  k = dense(x, p['key']).reshape(B, N, D)
  v = dense(x, p['value']).reshape(B, N, D)
  E = jnp.broadcast_to(p['key_projection']['kernel'][:N].T, (B, K, N))
  F = jnp.broadcast_to(p['value_projection']['kernel'][:N].T, (B, K, N))
  return q, (E @ k).reshape(B, K, H, d), (F @ v).reshape(B, K, H, d)


def v_cs(params, x):
  p = params['params']
  q, kp, vp = _proj(p, x)
  w = softmax_cv(jnp.einsum('bqhd,bkhd->bhqk', q, kp))
  o = jnp.einsum('bhqk,bkhd->bqhd', w, vp)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


def v_bqhk(params, x):
  p = params['params']
  q, kp, vp = _proj(p, x)
  w = jax.nn.softmax(jnp.einsum('bqhd,bkhd->bqhk', q, kp), axis=-1)
  o = jnp.einsum('bqhk,bkhd->bqhd', w, vp)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


def v_headsfirst(params, x):
  """Heads-major copies made once: q [B,H,N,d], kT [B,H,d,K], v [B,H,K,d]."""
  p = params['params']
  q, kp, vp = _proj(p, x)
  qh = q.transpose(0, 2, 1, 3)
  kT = kp.transpose(0, 2, 3, 1)
  vh = vp.transpose(0, 2, 1, 3)
  w = softmax_cv(qh @ kT)
  o = (w @ vh).transpose(0, 2, 1, 3)
  return jnp.einsum('bnhd,hdD->bnD', o, p['out']['kernel']) + p['out']['bias']


VARIANTS.update(cs=v_cs, bqhk=v_bqhk, headsfirst=v_headsfirst)


if __name__ == '__main__':
  main()
