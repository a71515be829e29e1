"""The RAM pieces: the retina against a NumPy reference, every stop-gradient
of the hybrid loss, the random-glimpse option and the LSTM core."""

import functools

import flax
import jax
import ml_collections
import numpy as np
import pytest

from vit_jax.models import glimpse
from vit_jax.models import ram
from vit_jax.tasks import ram_classification


def _reference_glimpse(image, location, size, num_scales):
  """Loops over pixels: [H, W, C], [2] -> [num_scales, size, size, C]."""
  h, w, c = image.shape
  centre = np.round((np.clip(location, -1, 1) + 1) / 2 * np.array([h, w]))
  out = np.zeros((num_scales, size, size, c), np.float64)
  for s in range(num_scales):
    factor = 2**s
    top, left = centre.astype(int) - size * factor // 2
    for i in range(size):
      for j in range(size):
        block = [image[y, x] if 0 <= y < h and 0 <= x < w else np.zeros(c)
                 for y in range(top + i * factor, top + (i + 1) * factor)
                 for x in range(left + j * factor, left + (j + 1) * factor)]
        out[s, i, j] = np.mean(block, axis=0)
  return out


def test_glimpse_matches_numpy_reference():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(6, 20, 17, 2)).astype(np.float32)
  # Centre, corners (mostly outside), an off-grid point, one out of range.
  locations = np.array([[0, 0], [-1, -1], [1, 1], [-1, 1], [0.33, -0.71],
                        [1.7, -3.0]], np.float32)
  got = jax.jit(lambda x, l: glimpse.glimpse(x, l, size=4, num_scales=3))(
      images, locations)
  assert got.shape == (6, 3, 4, 4, 2)
  for b in range(len(images)):
    np.testing.assert_allclose(
        got[b], _reference_glimpse(images[b], locations[b], 4, 3),
        rtol=1e-5, atol=1e-6)


def test_glimpse_finds_a_bright_spot_at_its_location():
  image = np.zeros((1, 40, 40, 1), np.float32)
  image[0, 30, 10] = 1.0  # Pixel (30, 10) is location (0.5, -0.5).
  patches = glimpse.glimpse(image, np.array([[0.5, -0.5]], np.float32),
                            size=2, num_scales=1)
  assert patches[0, 0, 1, 1, 0] == 1.0 and patches.sum() == 1.0


def _tiny(**kwargs):
  fields = dict(num_classes=10, num_glimpses=3, glimpse_size=4, num_scales=2,
                hidden_size=16, glimpse_features=8)
  fields.update(kwargs)
  return ram.RecurrentAttentionModel(**fields)


def _task():
  config = ml_collections.ConfigDict(dict(
      num_classes=10, label_smoothing=0.0, dataset='x',
      ram_loss=dict(reinforce_weight=1.0)))
  return ram_classification.RamClassification(config)


def _batch(n=16):
  rng = np.random.default_rng(1)
  return {'image': rng.uniform(size=(n, 16, 16, 1)).astype(np.float32),
          'label': rng.integers(0, 10, n).astype(np.int32)}


@functools.lru_cache(maxsize=None)
def _gradients(core):
  """term -> {module path: True if any of its parameters has a nonzero
  gradient from that loss term}; one compilation per core."""
  model = _tiny(core=core)
  batch = _batch()
  params = model.init(jax.random.key(0), batch['image'], train=False)['params']
  rngs = {ram.RNG_STREAM: jax.random.key(3)}
  terms = ('cross_entropy', 'reinforce', 'baseline_mse')

  @jax.jit
  def grads(params):
    return {term: jax.grad(
        lambda p, term=term: _task().loss_terms(model, p, batch, rngs)[term])(
            params) for term in terms}

  result = {}
  for term, tree in grads(params).items():
    nonzero, per_param = {}, {}
    for path, g in flax.traverse_util.flatten_dict(tree, sep='/').items():
      module = path.rsplit('/', 1)[0]
      per_param[path] = bool(np.any(g != 0))
      nonzero[module] = nonzero.get(module, False) or per_param[path]
    result[term] = nonzero
    result[f'{term} per parameter'] = per_param
  return result


LOCATOR = 'step/locator'
BASELINE = 'step/baseline'


@pytest.mark.parametrize('core', ram.CORES)
def test_reinforce_trains_only_the_locator(core):
  nonzero = dict(_gradients(core)['reinforce'])
  assert nonzero.pop(LOCATOR)  # The policy gradient does reach it.
  # Nothing else: classifier, core, glimpse and baseline get exactly 0.
  assert not any(nonzero.values()), nonzero


@pytest.mark.parametrize('core', ram.CORES)
def test_cross_entropy_never_reaches_locator_or_baseline(core):
  nonzero = dict(_gradients(core)['cross_entropy'])
  assert not nonzero.pop(LOCATOR) and not nonzero.pop(BASELINE)
  # Everything else learns from it: classifier, core, both glimpse paths.
  assert all(nonzero.values()), nonzero
  assert {'classifier', 'step/glimpse/patches', 'step/glimpse/where'} <= set(
      nonzero)


@pytest.mark.parametrize('core', ram.CORES)
def test_baseline_mse_trains_only_the_baseline(core):
  nonzero = dict(_gradients(core)['baseline_mse'])
  assert nonzero.pop(BASELINE)
  # Not a constant: the baseline's weights on h_t learn too.
  assert _gradients(core)['baseline_mse per parameter'][f'{BASELINE}/kernel']
  assert not any(nonzero.values()), nonzero


def test_random_locations_have_no_policy_and_vary_with_the_rng():
  model = _tiny(locations='random')
  batch = _batch(4)
  params = model.init(jax.random.key(0), batch['image'], train=False)['params']
  assert LOCATOR not in params['step']
  run = lambda key: model.apply({'params': params}, batch['image'],
                                train=True, rngs={ram.RNG_STREAM: key})
  a, b = run(jax.random.key(1)), run(jax.random.key(2))
  assert not np.allclose(a['locations'], b['locations'])
  assert np.all(np.abs(a['locations']) <= 1)
  np.testing.assert_array_equal(a['log_probs'], 0)
  # Evaluation without an rng: fixed locations, the same every call.
  e1 = model.apply({'params': params}, batch['image'], train=False)
  e2 = model.apply({'params': params}, batch['image'], train=False)
  np.testing.assert_array_equal(e1['locations'], e2['locations'])


def test_learned_locations_start_at_the_centre_and_follow_the_mean_in_eval():
  model = _tiny()
  batch = _batch(4)
  params = model.init(jax.random.key(0), batch['image'], train=False)['params']
  out = model.apply({'params': params}, batch['image'], train=False)
  assert out['locations'].shape == (4, 3, 2)
  assert out['log_probs'].shape == out['baselines'].shape == (4, 2)
  np.testing.assert_array_equal(out['locations'][:, 0], 0)
  # Evaluation takes the mean: log π(μ | μ) is the density's maximum.
  top = -2 * (np.log(0.2) + 0.5 * np.log(2 * np.pi))
  np.testing.assert_allclose(out['log_probs'], top, rtol=1e-6)
