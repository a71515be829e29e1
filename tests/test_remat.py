"""model.remat_policy: recomputing blocks in the backward pass changes no
value or gradient, for both attention variants (Linformer's layerwise
projection, shared by all blocks, included), and keeps parameter names.
(The chunked implementation of full attention has its own custom gradient,
tested against einsum in test_attention.py; it is left out here for time.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import common
from vit_jax import models

ATTENTIONS = {
    'full_einsum': dict(name='full', implementation='einsum'),
    'linformer_layerwise': dict(name='linformer', k=4, max_length=17,
                                sharing='layerwise'),
}


def _model(attention, remat_policy):
  return models.get_model(common.vit_model(
      patch_size=4, hidden_size=16, num_layers=2, num_heads=2, mlp_dim=32,
      attention=attention, remat_policy=remat_policy), 5)


# Full attention, and Linformer's layerwise projection shared by all blocks
# (set up outside the remat); test_scan.py covers remat inside nn.scan.
@pytest.mark.parametrize('variant,policy', [
    ('full_einsum', 'full'), ('linformer_layerwise', 'dots_saveable')])
def test_remat_same_values_and_gradients(variant, policy):
  images = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
  labels = jnp.array([1, 3])
  plain = _model(ATTENTIONS[variant], 'none')
  remat = _model(ATTENTIONS[variant], policy)
  params = plain.init(jax.random.key(0), images, train=False)['params']
  remat_params = remat.init(jax.random.key(0), images, train=False)['params']
  assert jax.tree.structure(params) == jax.tree.structure(remat_params)

  def loss(model, p):
    logits = model.apply({'params': p}, images, train=True,
                         rngs={'dropout': jax.random.key(2)})
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), labels])

  value, grads = jax.jit(jax.value_and_grad(lambda p: loss(plain, p)))(
      params)
  value_r, grads_r = jax.jit(jax.value_and_grad(lambda p: loss(remat, p)))(
      params)
  np.testing.assert_allclose(value, value_r, rtol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               grads, grads_r)
  # Remat is really there: the gradient's program recomputes under a
  # checkpoint (remat) primitive.
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: loss(remat, p)))(params))
  assert 'remat' in jaxpr or 'checkpoint' in jaxpr
