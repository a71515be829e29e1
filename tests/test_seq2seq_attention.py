"""Cross-attention of the attention variants (additive, Luong) against NumPy,
padding masks, and the bidirectional encoder's independence from padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax import attention
from vit_jax.models import seq2seq_encoder

B, N, M, DIM, KV_DIM = 2, 3, 6, 8, 12
LENGTHS = (6, 4)  # Real keys per row: the second row has 2 padded keys.


def _inputs(seed=0):
  kx, kkv = jax.random.split(jax.random.key(seed))
  x = jax.random.normal(kx, (B, N, DIM))
  kv = jax.random.normal(kkv, (B, M, KV_DIM))
  mask = np.arange(M)[None, :] < np.asarray(LENGTHS)[:, None]
  return x, kv, jnp.asarray(mask)


def _heads(x, kernel, bias):
  """x [b, n, d] through a [d, heads, head_dim] map, in NumPy."""
  return np.einsum('bnd,dhe->bnhe', x, kernel) + bias


def _reference(x, kv, mask, p, score_fn):
  """NumPy cross-attention: weights [b, h, n, m] and outputs [b, n, DIM]."""
  x, kv, mask = map(np.asarray, (x, kv, mask))
  p = jax.tree.map(np.asarray, p)
  logits = score_fn(x, kv, p)  # [b, h, n, m]
  logits = np.where(mask[:, None, None, :], logits, -np.inf)
  w = np.exp(logits - logits.max(-1, keepdims=True))
  w = w / w.sum(-1, keepdims=True)
  v = _heads(kv, p['value']['kernel'], p['value']['bias'])
  y = np.einsum('bhnm,bmhe->bnhe', w, v)
  out = np.einsum('bnhe,hed->bnd', y, p['out']['kernel']) + p['out']['bias']
  return w, out


def _additive_scores(x, kv, p):
  q = _heads(x, p['query']['kernel'], p['query']['bias'])
  k = _heads(kv, p['key']['kernel'], p['key']['bias'])
  hidden = np.tanh(q[:, :, None] + k[:, None])  # [b, n, m, h, e]
  return np.einsum('bnmhe,he->bhnm', hidden, p['score'])


def _luong_scores(score):
  def scores(x, kv, p):
    heads = p['value']['kernel'].shape[1]
    q = x.reshape(x.shape[:2] + (heads, -1))
    if score == 'dot':
      k = kv.reshape(kv.shape[:2] + (heads, -1))
    else:
      k = _heads(kv, p['key']['kernel'], p['key']['bias'])
    return np.einsum('bnhe,bmhe->bhnm', q, k)
  return scores


CASES = {
    'additive': (dict(name='additive'), KV_DIM, _additive_scores),
    'luong_general': (dict(name='luong', score='general'), KV_DIM,
                      _luong_scores('general')),
    'luong_dot': (dict(name='luong', score='dot'), KV_DIM,
                  _luong_scores('dot')),
}


@pytest.mark.parametrize('case', sorted(CASES))
@pytest.mark.parametrize('num_heads', [1, 2])
def test_cross_attention_equals_numpy_with_masks(case, num_heads):
  options, query_dim, score_fn = CASES[case]
  x, kv, mask = _inputs()
  x = jnp.concatenate([x, x[..., :query_dim - DIM]], -1)  # [b, n, q_dim]
  module = attention.get(options['name'])(
      num_heads=num_heads, **attention.options_of(options))
  params = module.init(jax.random.key(1), x, kv=kv, kv_mask=mask)['params']
  y, state = module.apply({'params': params}, x, kv=kv, kv_mask=mask,
                          mutable='intermediates')
  (weights,) = state['intermediates']['weights']
  want_weights, want_y = _reference(x, kv, mask, params, score_fn)
  np.testing.assert_allclose(weights, want_weights, atol=1e-5)
  np.testing.assert_allclose(y, want_y, atol=1e-4)
  # Padded keys get weight exactly zero, and their content does not matter.
  assert np.all(np.asarray(weights)[1, :, :, LENGTHS[1]:] == 0)
  junk = kv.at[1, LENGTHS[1]:].set(100.0)
  np.testing.assert_array_equal(
      module.apply({'params': params}, x, kv=junk, kv_mask=mask), y)
  # A memory projected once gives the same outputs.
  memory = module.apply({'params': params}, kv, mask, method='memory')
  np.testing.assert_array_equal(
      module.apply({'params': params}, x, kv=memory), y)


def test_full_attention_takes_cross_attention_linformer_refuses():
  x, kv, mask = _inputs()
  kv = kv[..., :DIM]
  full = attention.get('full')(num_heads=2)
  params = full.init(jax.random.key(0), x, kv=kv, kv_mask=mask)
  assert full.apply(params, x, kv=kv, kv_mask=mask).shape == x.shape
  # Self-attention is unchanged by the extension: same parameters, shapes.
  self_params = full.init(jax.random.key(0), x)
  assert (jax.tree.map(jnp.shape, self_params)
          == jax.tree.map(jnp.shape, params))
  linformer = attention.get('linformer')(num_heads=2, k=4, max_length=M)
  with pytest.raises(ValueError, match='does not support cross-attention'):
    linformer.init(jax.random.key(0), x, kv=kv, kv_mask=mask)


def test_additive_self_attention_runs_and_masks():
  x, _, _ = _inputs()
  mask = jnp.asarray(np.arange(N)[None, :] < np.array([[N], [2]]))
  module = attention.get('additive')(num_heads=2)
  params = module.init(jax.random.key(0), x, mask)
  _, state = module.apply(params, x, mask, mutable='intermediates')
  (weights,) = state['intermediates']['weights']
  assert weights.shape == (B, 2, N, N)
  assert np.all(np.asarray(weights)[1, :, :, 2:] == 0)
  np.testing.assert_allclose(np.asarray(weights).sum(-1), 1, rtol=1e-6)


@pytest.mark.parametrize('cell', ['gru', 'lstm'])
def test_encoder_annotations_do_not_depend_on_padding(cell):
  encoder = seq2seq_encoder.BidirectionalEncoder(hidden_dim=5, cell=cell)
  lengths = jnp.array([M, 3])
  embedded = jax.random.normal(jax.random.key(0), (B, M, 4))
  params = encoder.init(jax.random.key(1), embedded, lengths)
  annotations, final = encoder.apply(params, embedded, lengths)
  assert annotations.shape == (B, M, 10) and final.shape == (B, 10)
  junk = embedded.at[1, 3:].set(50.0)
  annotations_junk, final_junk = encoder.apply(params, junk, lengths)
  np.testing.assert_array_equal(annotations_junk, annotations)
  np.testing.assert_array_equal(final_junk, final)
  assert np.all(np.asarray(annotations)[1, 3:] == 0)
  # The short row encodes as it would alone, unpadded.
  alone, final_alone = encoder.apply(params, embedded[1:, :3], lengths[1:])
  np.testing.assert_allclose(annotations[1, :3], alone[0], atol=1e-6)
  np.testing.assert_allclose(final[1], final_alone[0], atol=1e-6)
  # The backward direction's final state is read after the first token.
  backward_first = annotations[1, 0, 5:]
  np.testing.assert_allclose(final[1, 5:], backward_first, atol=1e-6)
