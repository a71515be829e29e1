"""model.scan_layers: the encoder as one nn.scan gives the loop's logits and
gradients for every attention variant (Linformer's layerwise projection,
shared by all blocks, included), with and without remat, and the two
parameter layouts convert both ways (vit_jax/models/layer_layout.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import common
from vit_jax import models
from vit_jax.models import layer_layout

# Variants whose parameters differ in kind: per-layer attention maps, and
# Linformer's projections per layer (headwise; 'none' and 'kv' differ only
# in their shapes) and one for all layers, outside the scan (layerwise).
ATTENTIONS = {
    'full_einsum': dict(name='full', implementation='einsum'),
    **{f'linformer_{sharing}': dict(name='linformer', k=4, max_length=17,
                                    sharing=sharing)
       for sharing in ('headwise', 'layerwise')},
}
IMAGES = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
LABELS = jnp.array([1, 3])


def _model(attention, *, scan_layers, remat_policy='none', dropout=0.0):
  return models.get_model(common.vit_model(
      patch_size=4, hidden_size=16, num_layers=3, num_heads=2, mlp_dim=32,
      attention=attention, scan_layers=scan_layers, remat_policy=remat_policy,
      dropout_rate=dropout), 5)


def _loop_params(attention):
  """Loop-layout parameters with every array perturbed (the zero head of a
  fresh model would make all logits 0 and hide any difference)."""
  params = _model(attention, scan_layers=False).init(
      jax.random.key(0), IMAGES, train=False)['params']
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(7), len(leaves))
  return jax.tree.unflatten(treedef, [
      x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])


def _loss(model, params):
  logits = model.apply({'params': params}, IMAGES, train=False)
  return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), LABELS]), logits


@pytest.mark.parametrize('variant,remat_policy', [
    *((v, 'none') for v in sorted(ATTENTIONS)),
    ('full_einsum', 'full'), ('linformer_layerwise', 'dots_saveable')])
def test_scan_equals_loop(variant, remat_policy):
  attention = ATTENTIONS[variant]
  loop = _model(attention, scan_layers=False)
  scan = _model(attention, scan_layers=True, remat_policy=remat_policy)
  params = _loop_params(attention)
  scanned = layer_layout.to_scan(params)
  # The converted tree is exactly what the scanned model creates.
  fresh = scan.init(jax.random.key(0), IMAGES, train=False)['params']
  assert (jax.tree.map(jnp.shape, fresh) ==
          jax.tree.map(jnp.shape, scanned))
  assert fresh['Transformer']['encoderblock']['LayerNorm_0']['scale'].shape \
      == (3, 16)

  grad = lambda model: jax.jit(jax.value_and_grad(
      lambda p: _loss(model, p), has_aux=True))
  (value, logits), grads = grad(loop)(params)
  (value_s, logits_s), grads_s = grad(scan)(scanned)
  assert float(jnp.abs(logits).max()) > 0.1  # Not trivially equal.
  np.testing.assert_allclose(logits, logits_s, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(value, value_s, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5),
               grads, layer_layout.to_loop(grads_s))


def test_scan_dropout_differs_per_layer_and_is_reproducible():
  """Each scanned block draws its own dropout mask (split_rngs)."""
  attention = ATTENTIONS['full_einsum']
  scan = _model(attention, scan_layers=True, dropout=0.5)
  params = layer_layout.to_scan(_loop_params(attention))
  run = lambda key: scan.apply({'params': params}, IMAGES, train=True,
                               rngs={'dropout': key})
  np.testing.assert_array_equal(run(jax.random.key(3)), run(jax.random.key(3)))
  assert np.abs(run(jax.random.key(3)) - run(jax.random.key(4))).max() > 0


def test_layouts_round_trip_and_refuse_bad_trees():
  params = jax.tree.map(np.asarray, _loop_params(ATTENTIONS['linformer_layerwise']))
  back = layer_layout.to_loop(layer_layout.to_scan(params))
  jax.tree.map(np.testing.assert_array_equal, params, back)
  assert layer_layout.is_scanned(layer_layout.to_scan(params))
  assert not layer_layout.is_scanned(params)
  # Shared (non-block) parameters stay where they are.
  assert 'shared_attention' in layer_layout.to_scan(params)['Transformer']
  gap = dict(params['Transformer'])
  del gap['encoderblock_1']
  with pytest.raises(ValueError, match='numbered'):
    layer_layout.to_scan({'Transformer': gap})
  with pytest.raises(ValueError, match='leading layer axis'):
    layer_layout.to_loop({'encoderblock': {'a': np.zeros((2, 3)),
                                           'b': np.zeros((3, 3))}})
