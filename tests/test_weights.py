"""Published-format weights: VT's .npz layout written and read back, big_vision's
layout, position-embedding resizing, adaptation and its one-line errors,
full -> Linformer (offline: fixtures are written here in the published format).
"""

import numpy as np
import jax
import pytest

from configs import common
from vit_jax import models
from vit_jax.errors import ConfigError
from vit_jax.models import layer_layout
from vit_jax.weights import adapt
from vit_jax.weights import posemb_resize
from vit_jax.weights import vt_npz

D, HEADS, MLP, LAYERS, PATCH = 16, 2, 32, 2, 4


def make_model(image_size=16, num_classes=10, attention='full', classifier='token',
               representation_size=None, scan=False, k=4, sharing='headwise'):
  config = common.vit_model(
      patch_size=PATCH, hidden_size=D, num_layers=LAYERS, num_heads=HEADS,
      mlp_dim=MLP, classifier=classifier,
      representation_size=representation_size,
      attention=common.attention(attention, image_size=image_size,
                                 patch_size=PATCH, k=k, sharing=sharing,
                                 classifier=classifier))
  if 'scan_layers' in config:
    config.scan_layers = scan
  elif scan:
    pytest.skip('model.scan_layers does not exist yet')
  return models.get_model(config, num_classes=num_classes)


def init(model, image_size=16, seed=0):
  params = model.init(jax.random.key(seed),
                      np.zeros((1, image_size, image_size, 3), np.float32),
                      train=False)['params']
  return jax.tree.map(np.asarray, params)


def randomised(params, seed=1):
  """Every array random (the head's zeros too), so that logits test all."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda x: rng.normal(scale=0.3, size=x.shape).astype(x.dtype), params)


def logits(model, params, images):
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x, train=False))
  return np.asarray(apply(params, images))


def images(n=4, size=16, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)
                                             ).astype(np.float32)


def target(model, image_size=16):
  return adapt.Target(fresh=init(model, image_size, seed=7),
                      grid=(image_size // PATCH,) * 2)


# VT's published keys and shapes for this size (vision_transformer's
# models_vit.py names, as in its ViT-*.npz files), hidden D, 4x4 grid + cls.
def vt_expected_shapes(num_classes=10, tokens=17):
  shapes = {
      'cls': (1, 1, D),
      'embedding/kernel': (PATCH, PATCH, 3, D), 'embedding/bias': (D,),
      'Transformer/posembed_input/pos_embedding': (1, tokens, D),
      'Transformer/encoder_norm/scale': (D,),
      'Transformer/encoder_norm/bias': (D,),
      'head/kernel': (D, num_classes), 'head/bias': (num_classes,),
  }
  for i in range(LAYERS):
    b = f'Transformer/encoderblock_{i}/'
    for ln in ('LayerNorm_0', 'LayerNorm_2'):
      shapes[b + ln + '/scale'] = shapes[b + ln + '/bias'] = (D,)
    shapes[b + 'MlpBlock_3/Dense_0/kernel'] = (D, MLP)
    shapes[b + 'MlpBlock_3/Dense_0/bias'] = (MLP,)
    shapes[b + 'MlpBlock_3/Dense_1/kernel'] = (MLP, D)
    shapes[b + 'MlpBlock_3/Dense_1/bias'] = (D,)
    a = b + 'MultiHeadDotProductAttention_1/'
    for name in ('query', 'key', 'value'):
      shapes[a + name + '/kernel'] = (D, HEADS, D // HEADS)
      shapes[a + name + '/bias'] = (HEADS, D // HEADS)
    shapes[a + 'out/kernel'] = (HEADS, D // HEADS, D)
    shapes[a + 'out/bias'] = (D,)
  return shapes


def test_vt_npz_has_vts_exact_keys_and_round_trips_logits(tmp_path):
  model = make_model()
  params = randomised(init(model))
  path = str(tmp_path / 'vit.npz')
  vt_npz.write(path, params)
  with np.load(path, allow_pickle=False) as npz:
    found = {k: npz[k].shape for k in npz.files}
  assert found == vt_expected_shapes()
  loaded, notes = adapt.adapt(vt_npz.read(path), target(model), source=path)
  assert not notes
  x = images()
  delta = np.abs(logits(model, loaded, x) - logits(model, params, x)).max()
  assert delta == 0.0


def test_big_vision_layout_loads(tmp_path):
  """big_vision: posemb at top level without a cls row (added before cls),
  per-type block numbering, scanned encoder stack -> same function."""
  model = make_model()
  params = randomised(init(model))
  flat = vt_npz.flatten(params)
  pe = flat.pop('Transformer/posembed_input/pos_embedding')
  # big_vision adds posemb to the patches only: fold cls's row into cls.
  flat['cls'] = flat['cls'] + pe[:, :1]
  flat['pos_embedding'] = pe[:, 1:]
  renames = {'LayerNorm_2': 'LayerNorm_1', 'MlpBlock_3': 'MlpBlock_0',
             'MultiHeadDotProductAttention_1': 'MultiHeadDotProductAttention_0'}
  bv = {}
  for key, value in flat.items():
    parts = key.split('/')
    bv['/'.join(renames.get(p, p) for p in parts)] = value
  bv = vt_npz.flatten(layer_layout.to_scan(vt_npz.unflatten(bv)))
  assert 'Transformer/encoderblock/MlpBlock_0/Dense_0/kernel' in bv
  assert bv['Transformer/encoderblock/MlpBlock_0/Dense_0/kernel'].shape == (
      LAYERS, D, MLP)
  path = str(tmp_path / 'bv.npz')
  np.savez(path, **bv)
  loaded, _ = adapt.adapt(vt_npz.read(path), target(model), source=path)
  x = images()
  np.testing.assert_allclose(logits(model, loaded, x),
                             logits(model, params, x), atol=1e-5)


def test_scan_and_loop_layouts_load_into_each_other(tmp_path):
  loop_model, scan_model = make_model(), make_model(scan=True)
  params = randomised(init(loop_model))
  path = str(tmp_path / 'vit.npz')
  vt_npz.write(path, params)
  scanned, _ = adapt.adapt(vt_npz.read(path), target(scan_model), source=path)
  assert 'encoderblock' in scanned['Transformer']
  x = images()
  np.testing.assert_allclose(logits(scan_model, scanned, x),
                             logits(loop_model, params, x), atol=1e-5)
  vt_npz.write(path, scanned)  # Written in the loop layout whatever it was.
  back, _ = adapt.adapt(vt_npz.read(path), target(loop_model), source=path)
  assert np.abs(logits(loop_model, back, x) - logits(loop_model, params, x)
                ).max() == 0.0


def reference_bilinear(grid, new_h, new_w):
  """Align-corners bilinear resize, written out: separable np.interp."""
  h, w, d = grid.shape
  ys = np.linspace(0, h - 1, new_h)
  xs = np.linspace(0, w - 1, new_w)
  rows = np.stack([[np.interp(xs, np.arange(w), grid[i, :, c])
                    for c in range(d)] for i in range(h)])  # [h, d, new_w]
  out = np.stack([[np.interp(ys, np.arange(h), rows[:, c, j])
                   for c in range(d)] for j in range(new_w)])  # [new_w, d, new_h]
  return out.transpose(2, 0, 1)


def test_posemb_resize_identity_and_reference():
  rng = np.random.default_rng(0)
  pe = rng.normal(size=(1, 1 + 4 * 4, 8)).astype(np.float32)
  same = posemb_resize.resize(pe, old_prefix=1, new_prefix=1, new_grid=(4, 4))
  assert np.array_equal(same, pe)
  # The resize itself (not a shortcut) is exact at an unchanged size.
  grid = pe[0, 1:].reshape(4, 4, 8).astype(np.float64)
  import scipy.ndimage
  assert np.array_equal(
      scipy.ndimage.zoom(grid, (1, 1, 1), order=1, grid_mode=False), grid)
  for new_grid in ((8, 8), (6, 3), (2, 2)):  # Up, non-square, down.
    out = posemb_resize.resize(pe, old_prefix=1, new_prefix=1,
                               new_grid=new_grid)
    assert out.shape == (1, 1 + new_grid[0] * new_grid[1], 8)
    assert np.array_equal(out[:, :1], pe[:, :1])  # cls row kept as is.
    ref = reference_bilinear(pe[0, 1:].reshape(4, 4, 8), *new_grid)
    np.testing.assert_allclose(out[0, 1:].reshape(*new_grid, 8), ref,
                               atol=1e-6)
  # Non-square source grid (given), cls row dropped / added.
  pe2 = rng.normal(size=(1, 2 * 3, 8)).astype(np.float32)
  out = posemb_resize.resize(pe2, old_prefix=0, new_prefix=1, new_grid=(4, 6),
                             old_grid=(2, 3))
  assert np.all(out[:, 0] == 0)
  np.testing.assert_allclose(out[0, 1:].reshape(4, 6, 8),
                             reference_bilinear(pe2[0].reshape(2, 3, 8), 4, 6),
                             atol=1e-6)


def test_new_resolution_resizes_posemb_and_runs(tmp_path):
  small, large = make_model(16), make_model(32)
  params = randomised(init(small))
  path = str(tmp_path / 'vit.npz')
  vt_npz.write(path, params)
  loaded, notes = adapt.adapt(vt_npz.read(path), target(large, 32),
                              source=path)
  pe = loaded['Transformer']['posembed_input']['pos_embedding']
  assert pe.shape == (1, 1 + 8 * 8, D)
  assert any('pos_embedding resized from (1, 17, 16) to (1, 65, 16)' in n
             for n in notes)
  expected = posemb_resize.resize(
      params['Transformer']['posembed_input']['pos_embedding'],
      old_prefix=1, new_prefix=1, new_grid=(8, 8))
  assert np.array_equal(pe, expected)
  assert np.isfinite(logits(large, loaded, images(size=32))).all()


def test_head_and_pre_logits_follow_the_new_config(tmp_path):
  source = make_model(representation_size=8)
  params = randomised(init(source))
  path = str(tmp_path / 'vit.npz')
  vt_npz.write(path, params)
  # Same classes and representation: everything kept.
  kept, notes = adapt.adapt(vt_npz.read(path), target(source), source=path)
  assert np.array_equal(kept['head']['kernel'], params['head']['kernel'])
  assert np.array_equal(kept['pre_logits']['kernel'],
                        params['pre_logits']['kernel'])
  # 5 classes, no representation: head fresh, pre_logits dropped.
  new = make_model(num_classes=5)
  t = target(new)
  out, notes = adapt.adapt(vt_npz.read(path), t, source=path)
  assert 'pre_logits' not in out
  assert np.array_equal(out['head']['kernel'], t.fresh['head']['kernel'])
  assert out['head']['kernel'].shape == (D, 5)
  assert any('head/kernel re-initialised' in n for n in notes)
  assert any('pre_logits of the weights dropped' in n for n in notes)
  assert np.array_equal(out['embedding']['kernel'],
                        params['embedding']['kernel'])


def test_init_skip_leaves_matches_fresh(tmp_path):
  model = make_model()
  params = randomised(init(model))
  path = str(tmp_path / 'vit.npz')
  vt_npz.write(path, params)
  t = target(model)
  out, _ = adapt.adapt(vt_npz.read(path), t, source=path,
                       skip=(r'Transformer/encoderblock_1/.*', 'head/.*'))
  assert np.array_equal(out['head']['bias'], t.fresh['head']['bias'])
  blk = out['Transformer']['encoderblock_1']['MlpBlock_3']['Dense_0']['kernel']
  assert np.array_equal(
      blk, t.fresh['Transformer']['encoderblock_1']['MlpBlock_3']['Dense_0'][
          'kernel'])
  assert np.array_equal(out['Transformer']['encoderblock_0']['LayerNorm_0'][
      'scale'], params['Transformer']['encoderblock_0']['LayerNorm_0']['scale'])


@pytest.mark.parametrize('edit, expected', [
    (lambda f: f.pop('Transformer/encoder_norm/scale'),
     'init_from SRC: Transformer/encoder_norm/scale: missing in the weights '
     '(expected shape (16,))'),
    (lambda f: f.__setitem__('extra/kernel', np.zeros((3, 2), np.float32)),
     'init_from SRC: extra/kernel: in the weights (shape (3, 2)) but not in '
     'the model (expected no such key)'),
    (lambda f: f.__setitem__('embedding/kernel',
                             np.zeros((8, 8, 3, D), np.float32)),
     'init_from SRC: embedding/kernel: found shape (8, 8, 3, 16), expected '
     '(4, 4, 3, 16)'),
])
def test_mismatch_is_one_error_line(tmp_path, edit, expected):
  model = make_model()
  flat = vt_npz.flatten(init(model))
  edit(flat)
  with pytest.raises(ConfigError) as e:
    adapt.adapt(vt_npz.unflatten(flat), target(model), source='SRC')
  assert str(e.value) == expected


def test_bad_files_are_one_line(tmp_path):
  with pytest.raises(ConfigError, match='does not exist'):
    vt_npz.read(str(tmp_path / 'missing.npz'))
  bad = tmp_path / 'bad.npz'
  bad.write_bytes(b'not a zip')
  with pytest.raises(ConfigError, match='not a readable .npz'):
    vt_npz.read(str(bad))
  pickled = str(tmp_path / 'pickled.npz')
  np.savez(pickled, cls=np.array([{'a': 1}], dtype=object))
  with pytest.raises(ConfigError, match='pickled.npz'):
    vt_npz.read(pickled)


@pytest.mark.parametrize('sharing', ['headwise', 'none', 'kv', 'layerwise'])
def test_full_to_linformer_keeps_shared_weights(tmp_path, sharing):
  full = make_model()
  params = randomised(init(full))
  path = str(tmp_path / 'full.npz')
  vt_npz.write(path, params)
  lin = make_model(attention='linformer', sharing=sharing)
  t = target(lin)
  out, notes = adapt.adapt(vt_npz.read(path), t, source=path)
  flat_out, flat_full = vt_npz.flatten(out), vt_npz.flatten(params)
  fresh = [k for k in flat_out if k not in flat_full]
  assert fresh and all('projection' in k or 'shared_attention' in k
                       for k in fresh), fresh
  for k in fresh:
    assert np.array_equal(flat_out[k], vt_npz.flatten(t.fresh)[k])
  for k, v in flat_full.items():
    assert np.array_equal(flat_out[k], v), k
  assert any('freshly initialised' in n for n in notes)
  assert np.isfinite(logits(lin, out, images())).all()


def test_linformer_of_another_max_length_is_resized(tmp_path):
  small, large = make_model(16, attention='linformer'), make_model(
      32, attention='linformer')
  params = randomised(init(small))
  path = str(tmp_path / 'lin.npz')
  vt_npz.write(path, params)
  out, notes = adapt.adapt(vt_npz.read(path), target(large, 32), source=path)
  e = out['Transformer']['encoderblock_0']['MultiHeadDotProductAttention_1'][
      'key_projection']['kernel']
  old = params['Transformer']['encoderblock_0'][
      'MultiHeadDotProductAttention_1']['key_projection']['kernel']
  assert e.shape == (65, 4) and old.shape == (17, 4)
  assert np.array_equal(e[0], old[0])  # The cls row is kept.
  ref = reference_bilinear(old[1:].reshape(4, 4, 4), 8, 8) * (16 / 64)
  np.testing.assert_allclose(e[1:].reshape(8, 8, 4), ref, atol=1e-6)
  assert any('key_projection/kernel resized' in n for n in notes)
  assert np.isfinite(logits(large, out, images(size=32))).all()


def test_config_fields_are_validated():
  from configs import default
  from vit_jax.training import config_validation
  config = default.get_config('full')
  config.init_skip = ('head/.*',)
  config.mode = 'eval'
  config_validation.validate(config)
  config.init_skip = ('head/[',)
  with pytest.raises(ConfigError, match=r'config.init_skip=.*bad regex'):
    config_validation.validate(config)


def test_finetune_config_is_vts_recipe_and_validates():
  from configs import finetune
  from vit_jax.training import config_validation
  config = finetune.get_config(
      'model=B/16,dataset=cifar10,init=ViT-B_16.npz,res=384')
  config_validation.validate(config)
  assert (config.init_from, config.image_size, config.num_classes) == (
      'ViT-B_16.npz', 384, 10)
  assert (config.optimizer.name, config.optimizer.momentum,
          config.optimizer.weight_decay, config.grad_clip_norm,
          config.batch_size, config.lr.decay) == ('sgd', 0.9, 0.0, 1.0, 512,
                                                  'cosine')
  assert config.model.hidden_size == 768 and config.lr.warmup_steps > 0
  assert config.model.representation_size is None  # pre_logits dropped.
  tiny = finetune.get_config('model=tiny,dataset=digits,res=32,'
                             'attention=linformer,k=16')
  config_validation.validate(tiny)
  assert tiny.model.attention.max_length == 65  # 8x8 patches + cls.
