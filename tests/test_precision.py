"""bf16 computation: matmuls in bfloat16, everything that accumulates in f32
(parameters, softmax sums, logits, loss), and Adam's first moment in bf16
on request (configs/default.py:full,bf16)."""

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core
import numpy as np

from configs import default
from vit_jax import models
from vit_jax.training import optimizer as optimizer_lib


def _dot_dtypes(jaxpr) -> set:
  """Operand dtypes of every dot_general, nested jaxprs included."""
  found = set()
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'dot_general':
      found.update(str(v.aval.dtype) for v in eqn.invars)
    for sub in jax_core.jaxprs_in_params(eqn.params):
      found |= _dot_dtypes(sub)
  return found


def test_bf16_config_computes_matmuls_in_bf16_and_keeps_f32_state():
  config = default.get_config('full,bf16')
  assert config.model.dtype == 'bfloat16'
  model = models.get_model(config.model, config.num_classes)
  images = jnp.ones((2, 16, 16, 1), jnp.float32)
  params = model.init(jax.random.key(0), images, train=False)['params']
  assert {str(p.dtype) for p in jax.tree.leaves(params)} == {'float32'}
  logits = model.apply({'params': params}, images, train=False)
  assert logits.dtype == jnp.float32
  jaxpr = jax.make_jaxpr(lambda p: model.apply({'params': p}, images,
                                               train=False))(params).jaxpr
  # Patch embedding, q/k/v/out, MLP: bf16. Only the head may stay f32.
  assert 'bfloat16' in _dot_dtypes(jaxpr)
  f32_model = models.get_model(default.get_config('full').model, 10)
  f32_logits = f32_model.apply({'params': params}, images, train=False)
  np.testing.assert_allclose(logits, f32_logits, atol=0.05)  # bf16 rounding.

  tx = optimizer_lib.make_optimizer(
      config, optimizer_lib.learning_rate_schedule(config.lr, 10))
  state = tx.init(params)
  adam = [s for s in jax.tree.leaves(state, is_leaf=lambda x: hasattr(x, 'mu'))
          if hasattr(s, 'mu')][0]
  assert {str(x.dtype) for x in jax.tree.leaves(adam.mu)} == {'bfloat16'}
  assert {str(x.dtype) for x in jax.tree.leaves(adam.nu)} == {'float32'}
