"""full attention's fused kernels: the Pallas splash kernel (run here in Pallas
interpret mode) gives the einsum path's values and gradients through a ViT
block, with and without a padding mask; implementation='flash' picks the
backend's kernel and falls back with one logged line saying why."""

import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax.attention import full
from vit_jax.attention import fused_kernels
from vit_jax.attention import splash
from vit_jax.models import vit

B, N, DIM = 2, 50, 16  # 50 tokens: padded to one 128-row block inside.


def _block(implementation):
  return vit.Encoder1DBlock(
      make_attention=functools.partial(full.FullAttention, num_heads=2,
                                       implementation=implementation),
      mlp_dim=32)


@pytest.mark.parametrize('masked', [False, True])
def test_splash_equals_einsum_through_a_vit_block(masked):
  x = jax.random.normal(jax.random.key(0), (B, N, DIM))
  mask = (jnp.arange(N)[None] < jnp.array([[N], [31]])) if masked else None
  params = _block('einsum').init(jax.random.key(1), x, mask, True)['params']

  def loss(implementation, params, x):
    y = _block(implementation).apply({'params': params}, x, mask, True)
    return jnp.sum(jnp.sin(y)), y

  grad = lambda impl: jax.jit(jax.value_and_grad(
      functools.partial(loss, impl), argnums=(0, 1), has_aux=True))
  (_, y), grads = grad('einsum')(params, x)
  (_, y_splash), grads_splash = grad('splash')(params, x)
  np.testing.assert_allclose(y_splash, y, atol=2e-5, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4,
                                                       rtol=1e-4),
               grads_splash, grads)
  if masked:  # Padded keys get no weight: their values change nothing.
    x2 = x.at[1, 31:].set(100.0)
    y2 = _block('splash').apply({'params': params}, x2, mask, True)
    np.testing.assert_allclose(y2[1, :31], y_splash[1, :31], atol=2e-5)


def test_flash_on_cpu_is_chunked_with_one_logged_line(caplog):
  fused_kernels._LOGGED.clear()  # pylint: disable=protected-access
  q, k, v = jax.random.normal(jax.random.key(2), (3, B, N, 2, 8))
  with caplog.at_level(logging.WARNING):
    attention = full.FullAttention(num_heads=2, implementation='flash')
    for _ in range(2):  # Logged once, however often it is traced.
      out = attention.attend(q, k, v, None, True)
  np.testing.assert_allclose(
      out, full.FullAttention(num_heads=2, implementation='chunked').attend(
          q, k, v, None, True), atol=1e-6)
  lines = [r.getMessage() for r in caplog.records if 'flash' in
           r.getMessage()]
  assert len(lines) == 1, lines
  assert "uses 'chunked': no fused attention kernel on the cpu backend" in (
      lines[0])


def test_kernel_choice_by_backend_and_inputs():
  f32 = jnp.zeros((1, 4, 2, 64), jnp.float32)
  bf16 = f32.astype(jnp.bfloat16)
  assert fused_kernels.kernel_for('tpu', f32)[0] is splash.splash_attention
  assert fused_kernels.kernel_for('tpu', bf16)[0] is splash.splash_attention
  kernel, why = fused_kernels.kernel_for('tpu', f32.astype(jnp.float16))
  assert kernel is None and 'float16' in why
  kernel, why = fused_kernels.kernel_for('gpu', f32)
  assert kernel is None and 'bfloat16 or float16' in why
  assert fused_kernels.kernel_for('gpu', bf16)[0] is not None
  kernel, why = fused_kernels.kernel_for(
      'gpu', jnp.zeros((1, 4, 2, 36), jnp.bfloat16))
  assert kernel is None and 'head_dim' in why
