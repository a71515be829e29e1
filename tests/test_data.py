"""Tests of vit_jax/data: digits builder, synthetic source, preprocessing ops,
the source registry (a non-image kind registered here), the input config
fields, and the deterministic, resumable, process-sliced batch iterators.
Offline."""

import io
import itertools
import json
import threading
import time

from etils import epath
import ml_collections
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from configs import common
from vit_jax import config_rules
from vit_jax import data
from vit_jax import errors
from vit_jax.data import digits
from vit_jax.data import sources
from vit_jax.data.ops import preprocess
from vit_jax.data.sources import registry
from vit_jax.data.sources import synthetic
from vit_jax.training import config_validation
from vit_jax.training import workdir


def make_config(data_dir, **overrides) -> ml_collections.ConfigDict:
  config = common.trainer_defaults()
  config.update(dict(
      seed=3, dataset='digits', data_dir=str(data_dir), num_classes=10,
      image_size=16, batch_size=32, eval_batch_size=100,
      input=dict(random_shift=2),
      synthetic=dict(num_train=512, num_test=200, channels=3)))
  config.update(overrides)
  return config


def take(iterator, n):
  return list(itertools.islice(iterator, n))


def concat(batches):
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('tfds')
  digits.load_builder(str(data_dir))
  return data_dir


def test_digits_builder_fixed_stratified_split(digits_dir):
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  builder = digits.load_builder(str(digits_dir))
  splits = {s: builder.as_data_source(s) for s in ('train', 'test')}
  assert {s: len(v) for s, v in splits.items()} == {'train': 1437, 'test': 360}
  sklearn_digits = datasets.load_digits()
  expected = np.round(sklearn_digits.images * 255 / 16).astype(np.uint8)
  all_images = []
  for name, source in splits.items():
    examples = source.__getitems__(list(range(len(source))))
    labels = np.array([e['label'] for e in examples])
    counts = np.bincount(labels, minlength=10)
    # Stratified: every class in both splits, in proportion (~20% in test).
    assert counts.min() >= (30 if name == 'test' else 130), (name, counts)
    assert examples[0]['image'].shape == (8, 8, 1)
    assert examples[0]['image'].dtype == np.uint8
    all_images += [e['image'][..., 0].tobytes() for e in examples]
  # Together the splits are exactly sklearn's 1,797 images (pixels * 255/16).
  assert sorted(all_images) == sorted(x.tobytes() for x in expected)
  info = data.dataset_info(make_config(digits_dir))
  assert info == data.DatasetInfo(num_classes=10, num_train=1437,
                                  num_test=360, image_shape=(16, 16, 1))


def test_digits_concurrent_prepare(tmp_path):
  results, errors = [], []

  def prepare():
    try:
      results.append(len(digits.load_builder(str(tmp_path)).as_data_source(
          'train')))
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=prepare) for _ in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors and results == [1437, 1437]
  assert not list(tmp_path.glob('digits/incomplete*'))


def test_train_batches_resume_bit_exact(digits_dir):
  config = make_config(digits_dir)
  # 1437 / 32 = 44.9 steps per epoch: steps 43..47 cross into epoch 2.
  straight = take(data.train_batches(config), 48)
  resumed = take(data.train_batches(config, start_step=43), 5)
  for a, b in zip(straight[43:], resumed):
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  batch = straight[0]
  assert batch['image'].shape == (32, 16, 16, 1)
  assert batch['image'].dtype == np.float32 and batch['label'].dtype == np.int32
  assert batch['image'].min() >= -1 and batch['image'].max() <= 1
  assert not np.array_equal(straight[0]['label'], straight[1]['label'])
  other_seed = take(data.train_batches(make_config(digits_dir, seed=4)), 1)
  assert not np.array_equal(other_seed[0]['image'], batch['image'])


def test_train_epochs_are_reshuffled_permutations(digits_dir):
  # 1437 = 3 * 479: three batches are exactly one epoch.
  config = make_config(digits_dir, batch_size=479, input=dict(random_shift=0))
  batches = take(data.train_batches(config), 6)
  epochs = [concat(batches[:3]), concat(batches[3:])]
  rows = [sorted(image.tobytes() for image in e['image']) for e in epochs]
  assert rows[0] == rows[1]  # Same examples, each once per epoch ...
  assert np.bincount(epochs[0]['label']).tolist() == np.bincount(
      epochs[1]['label']).tolist()
  # ... in a new order.
  assert not np.array_equal(epochs[0]['label'], epochs[1]['label'])


def test_random_shift_is_per_example_and_bounded(digits_dir):
  config = make_config(digits_dir, input=dict(random_shift=0))
  plain = take(data.train_batches(config), 1)[0]['image']
  config.input.random_shift = 2
  shifted = take(data.train_batches(config), 1)[0]['image']
  offsets = set()
  for a, b in zip(plain, shifted):
    matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
               if np.array_equal(np.roll(a, (dy, dx), (0, 1))[2:-2, 2:-2],
                                 b[2:-2, 2:-2])]
    assert matches  # Every image is its unshifted self moved by <= 2 pixels.
    offsets.add(matches[0])
  assert len(offsets) > 5  # Different examples get different shifts.


def test_process_slices_concatenate_to_global_batch(digits_dir):
  config = make_config(digits_dir)
  whole = take(data.train_batches(config, start_step=40), 6)
  parts = [take(data.train_batches(config, start_step=40, process_index=p,
                                   process_count=2), 6) for p in range(2)]
  for step in range(6):
    assert parts[0][step]['image'].shape[0] == 16
    for key in ('image', 'label'):
      np.testing.assert_array_equal(
          np.concatenate([parts[0][step][key], parts[1][step][key]]),
          whole[step][key])
  eval_whole = list(data.eval_batches(config))
  eval_parts = [list(data.eval_batches(config, process_index=p,
                                       process_count=2)) for p in range(2)]
  assert len(eval_parts[0]) == len(eval_parts[1]) == len(eval_whole) == 4
  for key in ('image', 'label', 'mask'):
    np.testing.assert_array_equal(
        np.concatenate([np.concatenate([a[key], b[key]])
                        for a, b in zip(*eval_parts)]),
        concat(eval_whole)[key])


def test_eval_covers_split_once_in_order_with_padding(digits_dir):
  config = make_config(digits_dir)  # 360 test examples, batches of 100.
  batches = list(data.eval_batches(config))
  assert [int(b['mask'].sum()) for b in batches] == [100, 100, 100, 60]
  for b in batches:
    assert b['image'].shape == (100, 16, 16, 1) and b['mask'].shape == (100,)
  last = batches[-1]
  np.testing.assert_array_equal(last['mask'], np.repeat([1.0, 0.0], [60, 40]))
  assert not last['image'][60:].any() and not last['label'][60:].any()
  got = concat(batches)
  real = got['mask'] == 1
  source = digits.load_builder(str(digits_dir)).as_data_source('test')
  examples = [source[i] for i in range(len(source))]
  expected_images = preprocess.to_float(preprocess.resize(
      [e['image'] for e in examples], None, size=16), None)
  np.testing.assert_array_equal(got['image'][real], expected_images)
  np.testing.assert_array_equal(got['label'][real],
                                [e['label'] for e in examples])
  # Eval never augments: the train split through eval_batches is unshifted.
  train = concat(list(data.eval_batches(config, split='train')))
  assert int(train['mask'].sum()) == 1437


def test_synthetic_source_deterministic_and_learnable():
  kwargs = dict(num_examples=600, image_shape=(12, 10, 3), num_classes=5,
                seed=1)
  a = synthetic.SyntheticSource(**kwargs)
  b = synthetic.SyntheticSource(**kwargs)
  for i in (0, 7, 599):
    np.testing.assert_array_equal(a[i]['image'], b[i]['image'])
    assert a[i]['label'] == b[i]['label']
  assert a[0]['image'].shape == (12, 10, 3) and a[0]['image'].dtype == np.uint8
  assert not np.array_equal(a[0]['image'], a[1]['image'])
  test = synthetic.SyntheticSource(split='test', **kwargs)
  assert not np.array_equal(a[0]['image'], test[0]['image'])
  with pytest.raises(IndexError):
    a[600]  # pylint: disable=pointless-statement
  # Nearest class mean (fit on train) classifies test: the pattern is shared.
  train_x = np.stack([a[i]['image'] for i in range(600)]).reshape(600, -1)
  train_y = np.array([a[i]['label'] for i in range(600)])
  assert set(train_y) == set(range(5))
  means = np.stack([train_x[train_y == c].mean(0) for c in range(5)])
  test_x = np.stack([test[i]['image'] for i in range(100)]).reshape(100, -1)
  test_y = np.array([test[i]['label'] for i in range(100)])
  predicted = ((test_x[:, None] - means[None])**2).sum(-1).argmin(-1)
  assert (predicted == test_y).mean() > 0.95


def test_synthetic_dataset_config(tmp_path):
  config = make_config(tmp_path, dataset='synthetic', image_size=8)
  info = data.dataset_info(config)
  assert info == data.DatasetInfo(num_classes=10, num_train=512, num_test=200,
                                  image_shape=(8, 8, 3))
  first = take(data.train_batches(config), 3)
  again = take(data.train_batches(config, start_step=2), 1)
  np.testing.assert_array_equal(first[2]['image'], again[0]['image'])
  assert first[0]['image'].shape == (32, 8, 8, 3)
  assert sum(b['mask'].sum() for b in data.eval_batches(config)) == 200


def test_not_prepared_tfds_dataset_raises_with_build_command(tmp_path):
  config = make_config(tmp_path, dataset='cats_vs_dogs', num_classes=2)
  start = time.monotonic()
  with pytest.raises(ValueError) as error:
    data.train_batches(config)
  assert time.monotonic() - start < 5  # Never waits on the network.
  message = str(error.value)
  assert '\n' not in message
  assert (f'tfds build cats_vs_dogs --file_format=array_record '
          f'--data_dir={tmp_path}') in message


def test_not_prepared_tfds_dataset_falls_back_to_synthetic(tmp_path, caplog):
  config = make_config(tmp_path, dataset='cats_vs_dogs', num_classes=2,
                       dataset_fallback='synthetic', image_size=12,
                       train_split='train[:90%]', test_split='train[90%:]')
  info = data.dataset_info(config)
  assert info == data.DatasetInfo(num_classes=2, num_train=512, num_test=200,
                                  image_shape=(12, 12, 3))
  batch = take(data.train_batches(config), 1)[0]
  assert batch['image'].shape == (32, 12, 12, 3)
  assert set(np.unique(batch['label'])) <= {0, 1}
  assert sum(b['mask'].sum() for b in data.eval_batches(config)) == 200
  warnings = [r for r in caplog.records
              if 'cats_vs_dogs' in r.getMessage() and 'synthetic' in
              r.getMessage()]
  assert len(warnings) == 1


class MixedImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Tiny tfds dataset of encoded images of mixed sizes, modes and formats."""

  VERSION = tfds.core.Version('1.0.0')
  # tfds otherwise looks for metadata files in the builder's package, and this
  # test module is not in one ("'test_data' is not a package").
  pkg_dir_path = epath.Path(__file__).parent
  # (size, PIL mode, format, colour), label = index % 3.
  IMAGES = [((5, 9), 'RGB', 'PNG', (200, 30, 90)),
            ((40, 24), 'L', 'PNG', (77,)),
            ((16, 16), 'RGBA', 'PNG', (10, 250, 128, 40)),
            ((64, 48), 'RGB', 'JPEG', (120, 60, 200)),
            ((7, 7), 'P', 'PNG', None),
            ((33, 8), 'RGB', 'PNG', (0, 255, 3))]

  def _info(self):
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3)),
            'label': tfds.features.ClassLabel(num_classes=3)}),
        supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    for i, (size, mode, fmt, colour) in enumerate(self.IMAGES):
      if mode == 'P':  # Palette image: index 1 -> (10, 20, 30).
        image = Image.new('P', size, 1)
        image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
      else:
        image = Image.new(mode, size, colour)
      buffer = io.BytesIO()
      image.save(buffer, format=fmt)
      yield i, {'image': buffer.getvalue(), 'label': i % 3}


def test_tfds_encoded_images_of_mixed_sizes(tmp_path):
  builder = MixedImages(data_dir=str(tmp_path))
  builder.download_and_prepare(file_format='array_record')
  config = make_config(tmp_path, dataset='mixed_images', num_classes=3,
                       image_size=8, eval_batch_size=4, test_split='train')
  assert data.dataset_info(config).image_shape == (8, 8, 3)
  got = concat(list(data.eval_batches(config)))
  assert got['mask'].sum() == 6
  # Records are stored in tfds's key-hash order: identify them by colour.
  # Grey and palette images become RGB, RGBA drops alpha.
  labels = {(200, 30, 90): 0, (77, 77, 77): 1, (10, 250, 128): 2,
            (120, 60, 200): 0, (10, 20, 30): 1, (0, 255, 3): 2}
  seen = set()
  for image, label in zip(got['image'][:6], got['label'][:6]):
    pixels = np.round((image + 1) * 127.5).reshape(-1, 3)  # [64, 3]
    assert np.ptp(pixels, axis=0).max() <= 2  # Still uniform after resizing.
    colour = min(labels, key=lambda c, p=pixels[0]: np.abs(c - p).max())
    assert np.abs(colour - pixels[0]).max() <= 3, pixels[0]  # JPEG is lossy.
    assert labels[colour] == label
    seen.add(colour)
  assert seen == set(labels)
  config.batch_size = 6
  assert take(data.train_batches(config), 1)[0]['image'].shape == (6, 8, 8, 3)


# --- sources: the registry, non-image datasets, config fields ---------------


class TokenSource(sources.Source):
  """Example i: tokens i+1 .. i+n padded with zeros to 6, n = 1 + (i % 6)
  real tokens; label n % 2."""

  def __init__(self, name: str, size: int):
    self.name = name
    self.class_names = ['even', 'odd']
    self.features = {
        'tokens': sources.Feature((6,), np.dtype(np.int32)),
        'padding': sources.Feature((6,), np.dtype(bool)),
        'label': sources.Feature((), np.dtype(np.int32)),
    }
    self._size = size

  def __len__(self):
    return self._size

  def gather(self, indices):
    lengths = 1 + indices % 6  # [n]
    padding = np.arange(6) >= lengths[:, None]  # [n, 6]
    tokens = np.where(padding, 0, indices[:, None] + 1 + np.arange(6))
    return {'tokens': tokens.astype(np.int32), 'padding': padding,
            'label': (lengths % 2).astype(np.int32)}


class ToyTokens(sources.SourceKind):
  """A non-image dataset kind, registered by the test."""

  names = ('toy_tokens',)

  def open(self, dataset, split, *, role, settings):
    return TokenSource(f'{dataset}[{split}]', {'train': 50, 'test': 13}[role])


@pytest.fixture
def toy_tokens():
  sources.register(ToyTokens)
  yield
  registry.unregister(ToyTokens)


def test_non_image_source_goes_through_the_same_batching(tmp_path,
                                                         toy_tokens):
  config = make_config(tmp_path, dataset='toy_tokens', num_classes=2,
                       batch_size=8, eval_batch_size=5)
  assert data.dataset_info(config) == data.DatasetInfo(
      num_classes=2, num_train=50, num_test=13, image_shape=(6,))
  assert data.class_names(config) == ['even', 'odd']
  source = TokenSource('', 50)
  batches = take(data.train_batches(config), 8)
  # Row r of step s is example perm(seed, epoch)[s * 8 + r], untouched by
  # the image ops (input.random_shift=2 here).
  expected = source.gather(
      np.random.default_rng([config.seed, 0]).permutation(50)[8:16])
  assert list(batches[1]) == ['tokens', 'padding', 'label']
  for key, value in expected.items():
    np.testing.assert_array_equal(batches[1][key], value)
    assert batches[1][key].dtype == value.dtype
  resumed = take(data.train_batches(config, start_step=7), 1)[0]
  for key in expected:
    np.testing.assert_array_equal(resumed[key], batches[7][key])
  evaluated = list(data.eval_batches(config))
  assert [int(b['mask'].sum()) for b in evaluated] == [5, 5, 3]
  got = concat(evaluated)
  for key, value in TokenSource('', 13).gather(np.arange(13)).items():
    np.testing.assert_array_equal(got[key][:13], value)
    assert not got[key][13:].any()  # Padding rows are zeros.


def test_unknown_dataset_is_named_as_unknown_listing_every_kind(tmp_path):
  config = make_config(tmp_path, dataset='cifar_ten')
  with pytest.raises(ValueError) as error:
    data.dataset_info(config)
  assert str(error.value) == (
      "unknown dataset 'cifar_ten': not a tfds dataset, and not one of "
      'dates, digits, pathfinder/128, pathfinder/32, pathfinder/64, reversal, '
      'synthetic, translated_digits/cluttered, translated_digits/translated, '
      'folder:DIR')


def test_input_fields_are_declared_checked_and_change_no_batch(digits_dir):
  config = make_config(digits_dir)
  config.lock()  # As launch.py's: an undeclared field would be refused.
  reference = take(data.train_batches(config, start_step=5), 1)[0]
  config.input.num_threads = 8
  config.input.prefetch = 0
  config.input.cache_max_bytes = 0  # Read per batch, not into memory.
  config.synthetic.seed = 5
  config_rules.check(config, config_validation.RULES)
  got = take(data.train_batches(config, start_step=5), 1)[0]
  for key in ('image', 'label'):
    np.testing.assert_array_equal(got[key], reference[key])
  for field in ('num_threads', 'prefetch', 'cache_max_bytes'):
    bad = make_config(digits_dir)
    bad.input[field] = -1
    with pytest.raises(errors.ConfigError, match=rf'config.input.{field}=-1'):
      config_rules.check(bad, config_validation.RULES)
  bad = make_config(digits_dir)
  bad.synthetic.seed = -1
  with pytest.raises(errors.ConfigError, match='config.synthetic.seed=-1'):
    config_rules.check(bad, config_validation.RULES)


def test_synthetic_seed_and_channels(tmp_path):
  config = make_config(tmp_path, dataset='synthetic', image_size=8)
  config.synthetic.channels = 4  # Array images keep any channel count.
  first = take(data.train_batches(config), 1)[0]['image']
  assert first.shape == (32, 8, 8, 4)
  config.synthetic.seed = 1
  assert not np.array_equal(take(data.train_batches(config), 1)[0]['image'],
                            first)


def test_saved_config_without_new_fields_reads_the_same_data(digits_dir,
                                                             tmp_path):
  config = make_config(digits_dir)
  config.model = dict(name='vit')  # A run record has a model section.
  record = json.loads(config.to_json_best_effort())
  for section, field in [('input', 'num_threads'), ('input', 'prefetch'),
                         ('input', 'cache_max_bytes'), ('synthetic', 'seed')]:
    del record[section][field]  # As saved before they were declared.
  (tmp_path / 'config.json').write_text(json.dumps(record))
  loaded = workdir.load_config(str(tmp_path))
  assert (loaded.input.num_threads, loaded.synthetic.seed) == (2, 0)
  np.testing.assert_array_equal(
      take(data.train_batches(loaded), 1)[0]['image'],
      take(data.train_batches(config), 1)[0]['image'])
  # Sections that map names to entries keep the record's entries only.
  filled = workdir._with_missing(  # pylint: disable=protected-access
      {'evals': {'val': {'kind': 'k'}}, 'input': {'a': 0}},
      {'evals': {'test': {'kind': 'k'}}, 'input': {'a': 1, 'b': 2}})
  assert filled == {'evals': {'val': {'kind': 'k'}},
                    'input': {'a': 0, 'b': 2}}
