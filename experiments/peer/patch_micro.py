"""Patch embedding (224², patch 32, 3 -> 128, batch 64) fwd + kernel grad."""
import statistics, time
import jax, jax.numpy as jnp, numpy as np

B, S, P, C, D = 64, 224, 32, 3, 128
G = S // P


def p_base(images, kernel):
  x = images.reshape(B, G, P, G, P, C).transpose(0, 1, 3, 2, 4, 5)
  x = x.reshape(B, G, G, P * P * C)
  return x @ kernel.reshape(P * P * C, D)


def p_einsum(images, kernel):
  x = images.reshape(B, G, P, G, P * C)
  return jnp.einsum('bipjq,pqd->bijd', x, kernel.reshape(P, P * C, D))


def p_rows(images, kernel):
  """Sum over the 32 pixel rows of each patch: 32 dots on strided slices."""
  x = images.reshape(B, G, P, G, P * C)
  k = kernel.reshape(P, P * C, D)
  out = 0
  for p in range(P):
    out = out + x[:, :, p] @ k[p]
  return out


def p_concat(images, kernel):
  x = images.reshape(B, G, P, G, P * C)
  x = jnp.concatenate([x[:, :, p] for p in range(P)], axis=-1)  # [B,G,G,P*P*C]
  return x @ kernel.reshape(P * P * C, D)


@jax.custom_vjp
def _patch_dot(patches, kernel):
  return patches @ kernel

def _fwd(patches, kernel):
  return patches @ kernel, patches

def _bwd(patches, g):
  # dK^T = g^T @ patches: [D, M] @ [M, 3072], then transpose (small).
  gk = jnp.einsum('md,mk->dk', g.reshape(-1, g.shape[-1]),
                  patches.reshape(-1, patches.shape[-1])).T
  return None, gk

_patch_dot.defvjp(_fwd, _bwd)


def p_custom(images, kernel):
  x = images.reshape(B, G, P, G, P, C).transpose(0, 1, 3, 2, 4, 5)
  x = x.reshape(B * G * G, P * P * C)
  return _patch_dot(x, kernel.reshape(P * P * C, D)).reshape(B, G, G, D)


VARIANTS = dict(base=p_base, einsum=p_einsum, rows=p_rows, concat=p_concat,
                custom=p_custom)

images = jax.random.normal(jax.random.key(0), (B, S, S, C))
kernel = jax.random.normal(jax.random.key(1), (P, P, C, D)) * 0.02
wgt = jax.random.normal(jax.random.key(2), (B, G, G, D))
want = p_base(images, kernel)
runs = {}
for name, fn in VARIANTS.items():
  np.testing.assert_allclose(fn(images, kernel), want, atol=1e-4, rtol=1e-4)
  f = jax.jit(jax.value_and_grad(lambda k, i, fn=fn: jnp.sum(fn(i, k) * wgt)))
  c = f.lower(kernel, images).compile()
  jax.block_until_ready(c(kernel, images))
  runs[name] = (c, [], [])
g0 = runs['base'][0](kernel, images)[1]
for name, (c, _, _) in runs.items():
  np.testing.assert_allclose(c(kernel, images)[1], g0, atol=1e-2, rtol=1e-3)
for r in range(15):
  for name, (c, wall, cpu) in runs.items():
    w0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(c(kernel, images))
    wall.append(time.perf_counter() - w0); cpu.append(time.process_time() - c0)
bc = statistics.median(runs['base'][2])
for name, (c, wall, cpu) in runs.items():
  print(f'{name:>8}: wall median {statistics.median(wall) * 1e3:6.1f} ms min '
        f'{min(wall) * 1e3:6.1f}, cpu median {statistics.median(cpu) * 1e3:6.1f}'
        f' ms, cpu vs base {bc / statistics.median(cpu):.2f}x')
