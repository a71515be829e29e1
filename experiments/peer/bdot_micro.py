"""Batched tiny matmuls of the attention core, 512 x ([50,64] @ [64,16]) etc."""
import statistics, time, sys
import jax, jax.numpy as jnp, numpy as np
BH, N, K, d = 512, 50, 64, 16
r = lambda i, s: jax.random.normal(jax.random.key(i), s)
cases = {
  'w@v [N,K]@[K,d]': (lambda a, b: a @ b, r(0, (BH, N, K)), r(1, (BH, K, d))),
  'q@kT [N,d]@[d,K]': (lambda a, b: a @ b, r(0, (BH, N, d)), r(1, (BH, d, K))),
  'q@k^T [N,d]@[K,d]^T': (lambda a, b: jnp.einsum('bnd,bkd->bnk', a, b), r(0, (BH, N, d)), r(1, (BH, K, d))),
  'mulred w@v': (lambda a, b: jnp.sum(a[:, :, :, None] * b[:, None, :, :], axis=2), r(0, (BH, N, K)), r(1, (BH, K, d))),
  'mulred q@kT': (lambda a, b: jnp.sum(a[:, :, :, None] * b[:, None, :, :], axis=2), r(0, (BH, N, d)), r(1, (BH, d, K))),
  'plain [3200,128]@[128,512]': (lambda a, b: a @ b, r(0, (3200, 128)), r(1, (128, 512))),
  'per-batch-bd q@kT (B=64)': (lambda a, b: a @ b, r(0, (64, N, 128)), r(1, (64, 128, 512))),
}
for name, (f, a, b) in cases.items():
  c = jax.jit(f).lower(a, b).compile()
  h = c.as_text(); e = h[h.find('ENTRY'):]
  kinds = [l.split(' = ')[0].strip().lstrip('%').split('.')[0] for l in e.splitlines()[1:] if ' = ' in l and 'parameter(' not in l]
  jax.block_until_ready(c(a, b))
  cpu, wall = [], []
  for _ in range(40):
    c0, w0 = time.process_time(), time.perf_counter(); jax.block_until_ready(c(a, b))
    cpu.append(time.process_time() - c0); wall.append(time.perf_counter() - w0)
  print(f'{name:>26}: cpu {statistics.median(cpu) * 1e3:6.2f} ms, wall {statistics.median(wall) * 1e3:6.2f} ms {kinds}')
