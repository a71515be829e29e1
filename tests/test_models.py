"""ViT: parameter counts of VT's sizes, names, embeddings, pooling, dtype."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax.models import activations, embeddings, get_model, sizes


def _count(model, image_size=224, channels=3):
  images = jax.ShapeDtypeStruct((1, image_size, image_size, channels),
                                jnp.float32)
  shapes = jax.eval_shape(
      lambda x: model.init(jax.random.key(0), x, train=False), images)
  return sum(np.prod(x.shape) for x in jax.tree.leaves(shapes)), shapes


@pytest.mark.parametrize('name,expected', [
    # google-research/vision_transformer and timm counts, 224², 1000 classes.
    ('Ti/16', 5_717_416),
    ('S/16', 22_050_664),
    ('B/16', 86_567_656),
    ('B/32', 88_224_232),
    ('L/16', 304_326_632),
])
def test_parameter_counts_match_published_vit(name, expected):
  model = get_model(dict(sizes.parse(name), attention=dict(name='full')), 1000)
  assert _count(model)[0] == expected


def test_parameter_names_follow_vision_transformer():
  model = get_model(dict(sizes.parse('Ti/16'), attention=dict(name='full'),
                         representation_size=16), 10)
  params = _count(model, 32)[1]['params']
  assert set(params) == {'embedding', 'cls', 'Transformer', 'pre_logits',
                         'head'}
  assert params['Transformer']['posembed_input']['pos_embedding'].shape == (
      1, 5, 192)
  block = params['Transformer']['encoderblock_11']
  assert set(block) == {'LayerNorm_0', 'MultiHeadDotProductAttention_1',
                        'LayerNorm_2', 'MlpBlock_3'}
  assert 'encoder_norm' in params['Transformer']


def test_unknown_size_is_an_error():
  with pytest.raises(ValueError, match='unknown ViT size'):
    sizes.parse('XL/16')


def test_patch_embedding_equals_strided_conv():
  images = jax.random.normal(jax.random.key(0), (2, 12, 8, 3))
  ours = embeddings.PatchEmbedding(patch_size=4, hidden_size=5)
  conv = nn.Conv(5, (4, 4), strides=(4, 4), padding='VALID')
  params = ours.init(jax.random.key(1), images)
  np.testing.assert_allclose(ours.apply(params, images),
                             conv.apply(params, images), atol=1e-5)


def _tiny(**overrides):
  fields = dict(patch_size=4, hidden_size=16,
                transformer=dict(num_layers=2, num_heads=2, mlp_dim=32),
                attention=dict(name='full'))
  fields.update(overrides)
  return get_model(fields, num_classes=7)


@pytest.mark.parametrize('overrides', [
    dict(classifier='gap'), dict(posemb='sincos2d'),
    dict(classifier='gap', posemb='sincos2d'), dict(representation_size=8),
    dict(dtype='bfloat16'),
    dict(attention=dict(name='linformer', k=4, max_length=17)),
])
def test_variants_produce_float32_logits(overrides):
  model = _tiny(**overrides)
  images = jax.random.normal(jax.random.key(0), (3, 16, 16, 1))
  params = model.init(jax.random.key(1), images, train=False)
  logits = model.apply(params, images, train=False)
  assert logits.shape == (3, 7) and logits.dtype == jnp.float32
  # Parameters stay float32 whatever the computation dtype.
  assert {x.dtype for x in jax.tree.leaves(params)} == {jnp.dtype('float32')}


def test_head_is_zero_initialised_and_gap_has_no_cls():
  model = _tiny(classifier='gap')
  images = jnp.ones((2, 16, 16, 1))
  params = model.init(jax.random.key(1), images, train=False)
  assert 'cls' not in params['params']
  np.testing.assert_array_equal(params['params']['head']['kernel'], 0)
  assert params['params']['Transformer']['posembed_input'][
      'pos_embedding'].shape == (1, 16, 16)


def test_dropout_is_active_only_in_training():
  model = _tiny(transformer=dict(num_layers=1, num_heads=2, mlp_dim=32,
                                 dropout_rate=0.5, attention_dropout_rate=0.5))
  images = jax.random.normal(jax.random.key(0), (2, 16, 16, 1))
  params = model.init(jax.random.key(1), images, train=False)
  # A random head: the zero-initialised one hides what happens before it.
  head = params['params']['head']
  head['kernel'] = jax.random.normal(jax.random.key(2), head['kernel'].shape)
  run = lambda seed: model.apply(params, images, train=True,
                                 rngs={'dropout': jax.random.key(seed)})
  assert not np.allclose(run(0), run(1))
  np.testing.assert_array_equal(model.apply(params, images, train=False),
                                model.apply(params, images, train=False))


def test_image_not_divisible_by_patch_is_an_error():
  with pytest.raises(ValueError, match='not divisible by patch size 4'):
    _tiny().init(jax.random.key(0), jnp.ones((1, 18, 18, 1)), train=False)


def test_mlp_gelu_equals_nn_gelu_and_keeps_one_buffer_less():
  """activations.gelu: nn.gelu's values and gradients; its tanh is not kept."""
  n, d, mlp = 2048, 64, 256
  keys = jax.random.split(jax.random.key(3), 3)
  x = jax.random.normal(keys[0], (n, d))
  w1 = jax.random.normal(keys[1], (d, mlp)) * 0.3
  w2 = jax.random.normal(keys[2], (mlp, d)) * 0.3
  np.testing.assert_array_equal(activations.gelu(x @ w1), nn.gelu(x @ w1))
  mlp_loss = lambda act: lambda w1, w2, x: jnp.sum(jnp.sin(act(x @ w1) @ w2))
  grad = lambda act: jax.jit(jax.grad(mlp_loss(act), argnums=(0, 1, 2)))
  for got, want in zip(grad(activations.gelu)(w1, w2, x), grad(nn.gelu)(w1, w2, x)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  temp = lambda act: grad(act).lower(w1, w2, x).compile().memory_analysis(
      ).temp_size_in_bytes
  assert temp(activations.gelu) <= temp(nn.gelu) - n * mlp * 4  # One [n, mlp] less.
