"""Attention variants: equal to references, Linformer's sharing and masks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax import attention
from vit_jax.attention import softmax_core
from vit_jax.models import get_model
from vit_jax.models.vit import Encoder

B, N, H, D = 2, 12, 3, 4  # batch, length, heads, head_dim


def _qkv(seed=0, n=N):
  keys = jax.random.split(jax.random.key(seed), 3)
  return [jax.random.normal(k, (B, n, H, D)) for k in keys]


def _naive(q, k, v, mask=None):
  """Loops over batch and heads in NumPy."""
  q, k, v = map(np.asarray, (q, k, v))
  out = np.zeros_like(q)
  for b in range(q.shape[0]):
    for h in range(q.shape[2]):
      logits = q[b, :, h] @ k[b, :, h].T / np.sqrt(q.shape[-1])
      if mask is not None:
        logits = np.where(np.asarray(mask[b])[None], logits, -np.inf)
      w = np.exp(logits - logits.max(-1, keepdims=True))
      out[b, :, h] = (w / w.sum(-1, keepdims=True)) @ v[b, :, h]
  return out


def _padding_mask(n=N, valid=(N, 7)):
  return jnp.arange(n)[None, :] < jnp.asarray(valid)[:, None]


@pytest.mark.parametrize('masked', [False, True])
def test_full_implementations_match_naive(masked):
  q, k, v = _qkv()
  mask = _padding_mask() if masked else None
  want = _naive(q, k, v, mask)
  np.testing.assert_allclose(softmax_core.einsum_attention(q, k, v, mask),
                             want, atol=1e-5)
  np.testing.assert_allclose(
      softmax_core.library_attention(q, k, v, mask, 'xla'), want, atol=1e-5)


@pytest.mark.parametrize('masked', [False, True])
@pytest.mark.parametrize('n,chunks', [(N, (4, 8)), (37, (8, 16)), (N, (64, 64))])
def test_chunked_attention_equals_reference_with_gradients(masked, n, chunks):
  q, k, v = _qkv(n=n)
  mask = _padding_mask(n, valid=(n, 7)) if masked else None
  chunked = lambda q, k, v: softmax_core.chunked_attention(
      q, k, v, mask, query_chunk_size=chunks[0], key_chunk_size=chunks[1])
  reference = lambda q, k, v: softmax_core.einsum_attention(q, k, v, mask)
  np.testing.assert_allclose(chunked(q, k, v), _naive(q, k, v, mask),
                             atol=1e-5)
  # A loss that weights outputs unevenly, so that every gradient path counts.
  weights = jax.random.normal(jax.random.key(9), q.shape)
  grads = lambda fn: jax.grad(lambda *a: jnp.sum(fn(*a) * weights),
                              argnums=(0, 1, 2))(q, k, v)
  for got, want in zip(grads(chunked), grads(reference)):
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_chunked_attention_never_builds_the_full_matrix():
  """XLA's own memory plan: chunked temp memory is far below n² floats."""
  n = 2048
  q = jnp.zeros((1, n, 1, 8))
  def temp_bytes(fn):
    loss = lambda q: fn(q, q, q).sum()
    compiled = jax.jit(jax.grad(loss)).lower(q).compile()
    return compiled.memory_analysis().temp_size_in_bytes
  chunked = temp_bytes(lambda q, k, v: softmax_core.chunked_attention(
      q, k, v, query_chunk_size=128, key_chunk_size=256))
  plain = temp_bytes(softmax_core.einsum_attention)
  assert plain >= n * n * 4  # The einsum path holds n x n f32 weights.
  # The backward holds one query chunk's row of blocks: O(128 * n), not n².
  assert chunked < n * n * 4 / 4, (chunked, plain)


def test_full_module_implementations_agree():
  x = jax.random.normal(jax.random.key(1), (B, N, 24))
  mask = _padding_mask()
  einsum = attention.get('full')(num_heads=H, implementation='einsum')
  params = einsum.init(jax.random.key(0), x, mask)
  for implementation in ('xla', 'chunked', 'flash'):
    other = attention.get('full')(num_heads=H, implementation=implementation,
                                  query_chunk_size=5, key_chunk_size=4)
    np.testing.assert_allclose(einsum.apply(params, x, mask),
                               other.apply(params, x, mask), atol=1e-5)


def _identity_projections(params):
  """Sets every Linformer projection kernel to the identity."""
  def fix(path, leaf):
    names = [getattr(p, 'key', '') for p in path]
    if any(n.endswith('projection') or n == 'shared_attention' for n in names):
      eye = jnp.eye(leaf.shape[-2], leaf.shape[-1])
      return jnp.broadcast_to(eye, leaf.shape)
    return leaf
  return jax.tree_util.tree_map_with_path(fix, params)


@pytest.mark.parametrize('sharing', ['none', 'headwise', 'kv'])
def test_linformer_with_identity_projection_equals_full(sharing):
  x = jax.random.normal(jax.random.key(1), (B, N, 24))
  lin = attention.get('linformer')(num_heads=H, k=N, max_length=N,
                                   sharing=sharing)
  full = attention.get('full')(num_heads=H)
  params = _identity_projections(lin.init(jax.random.key(0), x))
  full_params = {'params': {k: v for k, v in params['params'].items()
                            if not k.endswith('projection')}}
  np.testing.assert_allclose(lin.apply(params, x), full.apply(full_params, x),
                             atol=1e-5)


def _linformer_by_definition(params, x, mask, sharing, k):
  """Keys/values maps first, then E, F along the sequence (the paper's order)."""
  p = params['params']
  dense = lambda name: jnp.einsum('bnc,chd->bnhd', x, p[name]['kernel']) + p[
      name]['bias']
  q, keys, values = dense('query'), dense('key'), dense('value')
  keep = jnp.ones(x.shape[:2], bool) if mask is None else mask
  keys, values = (jnp.where(keep[:, :, None, None], t, 0) for t in (keys, values))
  n = x.shape[1]
  name_e, name_f = {'none': ('key_projection', 'value_projection'),
                    'headwise': ('key_projection', 'value_projection'),
                    'kv': ('kv_projection', 'kv_projection')}[sharing]
  e, f = p[name_e]['kernel'][..., :n, :k], p[name_f]['kernel'][..., :n, :k]
  if sharing == 'none':  # [heads, n, k]
    keys = jnp.einsum('bnhd,hnk->bkhd', keys, e)
    values = jnp.einsum('bnhd,hnk->bkhd', values, f)
  else:
    keys = jnp.einsum('bnhd,nk->bkhd', keys, e)
    values = jnp.einsum('bnhd,nk->bkhd', values, f)
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, keys) / np.sqrt(q.shape[-1])
  y = jnp.einsum('bhqk,bkhd->bqhd', jax.nn.softmax(logits), values)
  return jnp.einsum('bqhd,hdc->bqc', y, p['out']['kernel']) + p['out']['bias']


@pytest.mark.parametrize('sharing', ['none', 'headwise', 'kv'])
@pytest.mark.parametrize('k', [5, N])  # k < n maps x along the sequence first.
@pytest.mark.parametrize('masked', [False, True])
def test_linformer_equals_its_definition_with_gradients(sharing, k, masked):
  x = jax.random.normal(jax.random.key(1), (B, N, 24))
  mask = _padding_mask() if masked else None
  module = attention.get('linformer')(num_heads=H, k=k, max_length=N + 3,
                                      sharing=sharing)
  params = module.init(jax.random.key(0), x)
  # Non-zero biases: the sequence-first order must carry them as E·mask.
  params = jax.tree_util.tree_map_with_path(
      lambda path, leaf: leaf + 0.3 if 'bias' in jax.tree_util.keystr(path)
      else leaf, params)
  ours = lambda p: module.apply(p, x, mask)
  reference = lambda p: _linformer_by_definition(p, x, mask, sharing, k)
  np.testing.assert_allclose(ours(params), reference(params), atol=1e-5)
  loss = lambda f: lambda p: jnp.sum(jnp.sin(f(p)))
  grads, expected = jax.grad(loss(ours))(params), jax.grad(loss(reference))(
      params)
  for (path, g), e in zip(jax.tree_util.tree_leaves_with_path(grads),
                          jax.tree_util.tree_leaves(expected)):
    np.testing.assert_allclose(g, e, atol=1e-4,
                               err_msg=jax.tree_util.keystr(path))


def _vit(sharing, layers=3, k=8, n_tokens=17):
  return get_model(dict(
      patch_size=2, hidden_size=24, classifier='token',
      transformer=dict(num_layers=layers, num_heads=H, mlp_dim=32),
      attention=dict(name='linformer', k=k, max_length=n_tokens,
                     sharing=sharing)), num_classes=5)


def _projection_kernels(params):
  flat = jax.tree_util.tree_leaves_with_path(params)
  return [(jax.tree_util.keystr(p), x.shape) for p, x in flat
          if 'projection' in jax.tree_util.keystr(p)
          or 'shared_attention' in jax.tree_util.keystr(p)]


@pytest.mark.parametrize('sharing,count,shape', [
    ('none', 2 * 3, (H, 17, 8)),   # E and F per head, per layer.
    ('headwise', 2 * 3, (17, 8)),  # E and F per layer.
    ('kv', 3, (17, 8)),            # One per layer.
    ('layerwise', 1, (17, 8)),     # One in the whole model.
])
def test_linformer_sharing_parameter_counts(sharing, count, shape):
  model = _vit(sharing)
  images = jnp.zeros((1, 8, 8, 3))
  params = jax.eval_shape(
      lambda: model.init(jax.random.key(0), images, train=False))
  kernels = _projection_kernels(params)
  assert len(kernels) == count, kernels
  assert all(s == shape for _, s in kernels), kernels


@pytest.mark.parametrize('attention_config', [
    dict(name='full'),
    dict(name='full', implementation='chunked', key_chunk_size=5),
    dict(name='linformer', k=8, max_length=N, sharing='none'),
    dict(name='linformer', k=8, max_length=N, sharing='headwise'),
    dict(name='linformer', k=8, max_length=N, sharing='kv'),
    dict(name='linformer', k=8, max_length=N, sharing='layerwise'),
])
def test_output_at_real_tokens_ignores_padded_positions(attention_config):
  # A 2-layer encoder, so layerwise sharing and stacking are covered too.
  encoder = Encoder(num_layers=2, mlp_dim=16, num_heads=H,
                    attention=attention_config)
  mask = _padding_mask()
  x = jax.random.normal(jax.random.key(1), (B, N, 24))
  noise = jax.random.normal(jax.random.key(2), x.shape) * 100
  x_other = jnp.where(mask[..., None], x, noise)  # Same real tokens.
  params = encoder.init(jax.random.key(0), x, mask, train=False)
  run = lambda inputs, m: np.asarray(encoder.apply(params, inputs, m,
                                                   train=False))
  valid = np.asarray(mask)
  np.testing.assert_allclose(run(x, mask)[valid], run(x_other, mask)[valid],
                             atol=1e-4)
  # Not vacuous: without the mask the padding does change real outputs.
  assert not np.allclose(run(x_other, None)[valid], run(x, mask)[valid],
                         atol=1e-2)


def test_linformer_shorter_input_uses_first_rows():
  short = 9
  x = jax.random.normal(jax.random.key(1), (B, short, 24))
  long_module = attention.get('linformer')(num_heads=H, k=4, max_length=N)
  exact_module = attention.get('linformer')(num_heads=H, k=4, max_length=short)
  params = long_module.init(jax.random.key(0), x)
  sliced = jax.tree_util.tree_map_with_path(
      lambda p, leaf: leaf[:short] if 'projection' in jax.tree_util.keystr(p)
      else leaf, params)
  np.testing.assert_allclose(long_module.apply(params, x),
                             exact_module.apply(sliced, x), atol=1e-6)


def test_linformer_longer_input_is_a_clear_error():
  module = attention.get('linformer')(num_heads=H, k=4, max_length=N)
  x = jnp.zeros((1, N + 1, 24))
  with pytest.raises(ValueError, match=rf'{N + 1} tokens.*max_length is {N}'):
    module.init(jax.random.key(0), x)


def test_unknown_attention_name_lists_known_ones():
  with pytest.raises(ValueError, match="unknown attention 'nope'.*full.*linformer"):
    attention.get('nope')


def test_new_variant_is_one_class_plus_registration():
  """A registered variant runs inside the ViT without touching the model."""

  @attention.register('mean_pool_test')
  class MeanAttention(attention.multihead.MultiHeadAttention):

    def attend(self, q, k, v, mask, deterministic):
      del q, k, mask, deterministic
      return jnp.broadcast_to(v.mean(1, keepdims=True), v.shape)

  try:
    model = get_model(dict(
        patch_size=4, hidden_size=12, transformer=dict(
            num_layers=1, num_heads=H, mlp_dim=8),
        attention=dict(name='mean_pool_test')), num_classes=3)
    images = jnp.ones((2, 8, 8, 1))
    params = model.init(jax.random.key(0), images, train=False)
    assert model.apply(params, images, train=False).shape == (2, 3)
  finally:
    attention.registry.unregister('mean_pool_test')

