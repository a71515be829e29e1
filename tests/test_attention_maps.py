"""Attention rollout and the recomputed ViT attention weights."""

import jax
import numpy as np
import pytest

from configs import common
from vit_jax import models
from vit_jax.models import layer_layout
from vit_jax.visualization import attention_rollout as ar


def _random_attention(rng, layers, heads, n):
  weights = rng.uniform(size=(layers, heads, n, n))
  return weights / weights.sum(-1, keepdims=True)


def test_rollout_rows_sum_to_one():
  weights = _random_attention(np.random.default_rng(0), 3, 4, 7)
  np.testing.assert_allclose(ar.rollout(weights).sum(-1), 1.0, rtol=1e-12)


def test_identity_attention_gives_identity_rollout():
  np.testing.assert_allclose(ar.rollout(np.tile(np.eye(5), (4, 2, 1, 1))),
                             np.eye(5), atol=1e-15)


def test_two_layers_by_hand():
  """Two layers, two heads, three tokens, worked out with NumPy alone."""
  a1 = np.array([[[1, 0, 0], [.5, .5, 0], [0, 0, 1]],
                 [[0, 1, 0], [.5, .5, 0], [0, .5, .5]]], float)
  a2 = np.array([[[0, 0, 1], [1, 0, 0], [0, 1, 0]],
                 [[1, 0, 0], [0, 1, 0], [0, 0, 1]]], float)
  # Head means; half identity added; rows already sum to 1.
  m1 = 0.5 * np.array([[.5, .5, 0], [.5, .5, 0], [0, .25, .75]]) + 0.5 * np.eye(3)
  m2 = 0.5 * np.array([[.5, 0, .5], [.5, .5, 0], [0, .5, .5]]) + 0.5 * np.eye(3)
  expected = m2 @ m1
  np.testing.assert_allclose(ar.rollout(np.stack([a1, a2])), expected)
  # The cls row over the two "patches" (grid 1x2).
  np.testing.assert_allclose(ar.token_map(expected, (1, 2), 1),
                             expected[0, 1:][None])


def _vit(attention, *, classifier='token', scan_layers=False):
  config = common.vit_model(patch_size=4, hidden_size=16, num_layers=2,
                            num_heads=2, mlp_dim=32, attention=attention,
                            classifier=classifier)
  config.scan_layers = scan_layers
  return models.get_model(config, num_classes=10)


def _attention_outputs(model, params, images):
  """Each block's attention output (before the residual), captured."""
  _, state = model.apply(
      {'params': params}, images, train=False,
      capture_intermediates=lambda m, method: (
          m.name == ar.ATTENTION and method == '__call__'),
      mutable=['intermediates'])
  blocks = state['intermediates']['Transformer']
  return [np.asarray(blocks[ar.BLOCK.format(i)][ar.ATTENTION]['__call__'][0])
          for i in range(2)]


def _rebuilt_outputs(model, params, images, weights):
  """The attention outputs from the recomputed weights: W V, then `out`."""
  _, state = model.apply(
      {'params': params}, images, train=False,
      capture_intermediates=lambda m, method: m.name == 'LayerNorm_0',
      mutable=['intermediates'])
  outputs = []
  for i in range(2):
    block = ar.BLOCK.format(i)
    attention = params['Transformer'][block][ar.ATTENTION]
    x = np.asarray(state['intermediates']['Transformer'][block][
        'LayerNorm_0']['__call__'][0], np.float64)
    v = ar._heads(x, attention['value'])  # pylint: disable=protected-access
    y = np.einsum('bhqn,bnhd->bqhd', weights[i], v)
    out = np.einsum('bqhd,hdc->bqc', y, np.asarray(attention['out']['kernel']))
    outputs.append(out + np.asarray(attention['out']['bias']))
  return outputs


@pytest.mark.parametrize('implementation', ['einsum', 'chunked'])
def test_recomputed_weights_reproduce_the_attention_output(implementation):
  attention = dict(name='full', implementation=implementation)
  if implementation == 'chunked':
    attention.update(query_chunk_size=4, key_chunk_size=4)
  model = _vit(attention)
  images = np.random.default_rng(0).normal(size=(2, 8, 12, 3)).astype(
      np.float32)
  params = model.init(jax.random.key(0), images, train=False)['params']
  weights = ar.attention_weights(model, params, images)
  assert not weights.heuristic and weights.grid == (2, 3)
  assert weights.layers.shape == (2, 2, 2, 7, 7)
  np.testing.assert_allclose(weights.layers.sum(-1), 1.0, rtol=1e-9)
  rebuilt = _rebuilt_outputs(model, params, images, weights.layers)
  for got, want in zip(rebuilt, _attention_outputs(model, params, images)):
    # The last block computes only the cls row of its output.
    np.testing.assert_allclose(got[:, :want.shape[1]], want, rtol=1e-4,
                               atol=1e-5)
  image_maps = ar.image_maps(weights)
  assert image_maps['rollout'].shape == image_maps['last_layer'].shape == (
      2, 2, 3)


def test_scanned_encoder_gives_the_same_weights():
  images = np.random.default_rng(1).normal(size=(1, 8, 8, 3)).astype(
      np.float32)
  loop = _vit(dict(name='full', implementation='einsum'))
  params = loop.init(jax.random.key(0), images, train=False)['params']
  scanned = _vit(dict(name='full', implementation='einsum'), scan_layers=True)
  want = ar.attention_weights(loop, params, images).layers
  got = ar.attention_weights(scanned, layer_layout.to_scan(params),
                             images).layers
  np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize('sharing', ['headwise', 'kv', 'layerwise', 'none'])
def test_linformer_composed_map_is_exact_before_normalising(sharing):
  """P Fᵀ applied to the full values equals Linformer's attention output."""
  attention = dict(name='linformer', k=3, sharing=sharing, max_length=10)
  model = _vit(attention)
  images = np.random.default_rng(2).normal(size=(2, 8, 12, 3)).astype(
      np.float32)
  params = model.init(jax.random.key(0), images, train=False)['params']
  weights = ar.attention_weights(model, params, images)
  assert weights.heuristic
  np.testing.assert_allclose(weights.layers.sum(-1), 1.0, rtol=1e-9)
  # The exact (unnormalised) map, rebuilt with the same helpers.
  _, state = model.apply(
      {'params': params}, images, train=False,
      capture_intermediates=lambda m, method: m.name == 'LayerNorm_0',
      mutable=['intermediates'])
  encoder = params['Transformer']
  block = encoder[ar.BLOCK.format(0)][ar.ATTENTION]
  x = np.asarray(state['intermediates']['Transformer'][ar.BLOCK.format(0)][
      'LayerNorm_0']['__call__'][0], np.float64)
  q, k = ar._heads(x, block['query']), ar._heads(x, block['key'])  # pylint: disable=protected-access
  key_map, value_map = ar._sequence_maps(block, encoder, 7)  # pylint: disable=protected-access
  p = ar._softmax(np.einsum('bqhd,bkhd->bhqk', q / np.sqrt(q.shape[-1]),  # pylint: disable=protected-access
                            ar._project(k, key_map)))  # pylint: disable=protected-access
  exact = ar._compose(p, value_map)  # pylint: disable=protected-access
  rebuilt = _rebuilt_outputs(model, params, images, [exact, exact])[0]
  np.testing.assert_allclose(rebuilt, _attention_outputs(model, params,
                                                         images)[0],
                             rtol=1e-4, atol=1e-5)
