"""model.kernels: the CPU-tuned forms (custom gradients, optimisation barriers,
normalise-late attention, sequence-first Linformer) and the plain flax/JAX
forms give the same values and gradients, and 'auto' picks by backend."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import common
from vit_jax import models
from vit_jax.models import kernel_forms

ATTENTIONS = {
    'full_einsum': dict(name='full', implementation='einsum'),
    # k < n with one kernel for all heads: the CPU-tuned form maps x along
    # the sequence first (kv: one kernel for keys and values).
    'linformer_kv': dict(name='linformer', k=4, max_length=17, sharing='kv'),
    # A kernel per head: the custom-gradient projection is not used.
    'linformer_none': dict(name='linformer', k=4, max_length=17,
                           sharing='none'),
}
IMAGES = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
LABELS = jnp.array([1, 3])


def _model(attention, kernels):
  return models.get_model(common.vit_model(
      patch_size=4, hidden_size=16, num_layers=2, num_heads=2, mlp_dim=32,
      attention=attention, kernels=kernels), 5)


def _loss(model, params):
  logits = model.apply({'params': params}, IMAGES, train=False)
  return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), LABELS]), logits


@pytest.mark.parametrize('variant', sorted(ATTENTIONS))
def test_cpu_tuned_and_plain_forms_agree(variant):
  tuned = _model(ATTENTIONS[variant], 'cpu_tuned')
  plain = _model(ATTENTIONS[variant], 'plain')
  params = tuned.init(jax.random.key(0), IMAGES, train=False)['params']
  # Same parameters in both forms.
  assert (jax.tree.map(jnp.shape, params) == jax.tree.map(
      jnp.shape, plain.init(jax.random.key(0), IMAGES, train=False)['params']))
  leaves, treedef = jax.tree.flatten(params)  # Non-zero head and biases.
  keys = jax.random.split(jax.random.key(5), len(leaves))
  params = jax.tree.unflatten(treedef, [
      x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])
  grad = lambda model: jax.jit(jax.value_and_grad(
      lambda p: _loss(model, p), has_aux=True))
  (value, logits), grads = grad(tuned)(params)
  (value_p, logits_p), grads_p = grad(plain)(params)
  np.testing.assert_allclose(logits, logits_p, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(value, value_p, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5),
               grads, grads_p)

  # The forms really differ: custom gradients and barriers in one only.
  forward = lambda model: str(jax.make_jaxpr(
      lambda p: _loss(model, p)[0])(params))
  backward = lambda model: str(jax.make_jaxpr(jax.grad(
      lambda p: _loss(model, p)[0]))(params))
  assert 'custom_vjp_call' in forward(tuned)
  assert 'optimization_barrier' in backward(tuned)
  assert 'custom_vjp_call' not in forward(plain)
  assert 'optimization_barrier' not in backward(plain)


def test_auto_follows_the_backend(monkeypatch):
  assert kernel_forms.use_cpu_tuned('auto') == (jax.default_backend() == 'cpu')
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert not kernel_forms.use_cpu_tuned('auto')
  assert kernel_forms.use_cpu_tuned('cpu_tuned')
  assert not kernel_forms.use_cpu_tuned('plain')
  with pytest.raises(ValueError, match='model.kernels'):
    kernel_forms.use_cpu_tuned('fast')
