"""Tests of the real-dataset inputs: tfds presets, image folders, corrupt
images, the named preprocessing ops, mixup and the catsdogs folder config.
Offline; every dataset is generated in tmp_path.

tfds presets are read from real array_record files that carry the preset's
name, version and features (taken from tfds's own builder class) and a few
generated examples, through the same loading code as a prepared dataset.
`tfds.testing.mock_data` is not used: without TensorFlow its mocked data
source fails in `__getitems__` (the batched read the pipeline uses) and
ignores split slicing such as cats_vs_dogs' train[90%:].
"""

import io
import itertools
import logging

from etils import epath
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from PIL import Image
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.testing import mocking

from configs import catsdogs
from configs import common
from vit_jax import data
from vit_jax.data import presets
from vit_jax.data.ops import mixup
from vit_jax.data.ops import op_lists
from vit_jax.data.ops import preprocess
from vit_jax.data.ops import randaugment
from vit_jax.data.ops import spatial
from vit_jax.data.sources import folder
from vit_jax.data.sources import synthetic
from vit_jax.tasks import classification


def make_config(**overrides) -> ml_collections.ConfigDict:
  config = common.trainer_defaults()
  config.batch_size, config.eval_batch_size = 4, 4
  config.update(overrides)
  return config


def first(iterator):
  return next(iter(iterator))


def concat(batches):
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def encode(image: Image.Image, fmt: str) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format=fmt)
  return buffer.getvalue()


def write(path, image: Image.Image | bytes, fmt: str = 'PNG') -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(image if isinstance(image, bytes) else encode(image, fmt))


def to_uint8(images: np.ndarray) -> np.ndarray:
  return np.round((images + 1) * 127.5)


# --- tfds presets -----------------------------------------------------------


def prepare_fake_preset(name: str, data_dir, split_sizes: dict[str, int],
                        corrupt: tuple[int, ...] = ()):
  """Writes `name` in array_record with tfds's real metadata, fake examples
  (those with a key in `corrupt` get undecodable image bytes)."""
  real_info = tfds.builder(name, data_dir=str(data_dir)).info
  features = real_info.features

  class Fake(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = real_info.version
    pkg_dir_path = epath.Path(__file__).parent  # Not a package: see test_data.

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=features,
                                   supervised_keys=real_info.supervised_keys)

    def _split_generators(self, dl_manager):
      return {s: self._generate_examples(n) for s, n in split_sizes.items()}

    def _generate_examples(self, n):
      rng = np.random.default_rng(0)
      # Random values of the right types for every feature (file names,
      # boxes, masks, ...); images replaced by PNGs (encoding needs no TF).
      fake = mocking.RandomFakeGenerator(features, n)
      for i in range(n):
        example = fake[i]
        for key, feature in features.items():
          if isinstance(feature, tfds.features.Image):
            h, w, c = (s or int(rng.integers(5, 40)) for s in feature.shape)
            pixels = rng.integers(0, 256, (h, w, c), np.uint8)
            example[key] = encode(Image.fromarray(pixels.squeeze(-1) if c == 1
                                                  else pixels), 'PNG')
          elif isinstance(feature, tfds.features.BBoxFeature):
            example[key] = np.float32([0.1, 0.1, 0.9, 0.9])
        if i in corrupt:
          example['image'] = b'\x89PNG garbage'
        yield i, example

  Fake.name = name
  Fake(data_dir=str(data_dir)).download_and_prepare(file_format='array_record')
  return real_info


@pytest.mark.parametrize('name', sorted(presets.PRESETS))
def test_preset_reads_prepared_array_record(name, tmp_path):
  preset = presets.PRESETS[name]
  sizes = ({'train': 20} if name == 'cats_vs_dogs'  # Sliced 90% / 10%.
           else {'train': 5, preset.test_split: 3})
  real_info = prepare_fake_preset(name, tmp_path, sizes)
  config = make_config(data_dir=str(tmp_path))
  common.set_dataset(config, name)
  assert (config.dataset, config.num_classes, config.train_split,
          config.test_split, config.image_size) == (
              name, preset.num_classes, preset.train_split, preset.test_split,
              preset.image_size)
  assert preset.num_classes == real_info.features['label'].num_classes
  size = preset.image_size
  num_train, num_test = (18, 2) if name == 'cats_vs_dogs' else (5, 3)
  assert data.dataset_info(config) == data.DatasetInfo(
      num_classes=preset.num_classes, num_train=num_train, num_test=num_test,
      image_shape=(size, size, 3))
  assert data.class_names(config) == real_info.features['label'].names
  batch = first(data.train_batches(config))
  assert batch['image'].shape == (4, size, size, 3)
  assert batch['label'].max() < preset.num_classes
  assert sum(b['mask'].sum() for b in data.eval_batches(config)) == num_test


@pytest.mark.parametrize('name', sorted(presets.PRESETS))
def test_unprepared_preset_says_how_to_prepare(name, tmp_path):
  config = make_config(data_dir=str(tmp_path))
  common.set_dataset(config, name)
  with pytest.raises(ValueError) as error:
    data.dataset_info(config)
  message = str(error.value)
  assert '\n' not in message
  assert (f'tfds build {name} --file_format=array_record '
          f'--data_dir={tmp_path}') in message
  if name == 'imagenet2012':
    assert '--manual_dir=' in message and 'ILSVRC2012_img_train.tar' in message


def test_corrupt_tfds_image_names_dataset_and_index(tmp_path):
  prepare_fake_preset('cats_vs_dogs', tmp_path, {'train': 6}, corrupt=(2,))
  config = make_config(data_dir=str(tmp_path), image_size=8, batch_size=6,
                       eval_batch_size=6)
  common.set_dataset(config, 'cats_vs_dogs', image_size=False)
  config.train_split = 'train'
  with pytest.raises(ValueError, match=r"cats_vs_dogs\[train\] example \d"):
    first(data.eval_batches(config, split='train'))
  config.input.skip_corrupt = True
  got = first(data.eval_batches(config, split='train'))
  # Records are stored in key-hash order: exactly one row repeats the next
  # (wrapping around).
  same = [np.array_equal(got['image'][i], got['image'][(i + 1) % 6])
          for i in range(6)]
  assert sum(same) == 1


# --- image folders ----------------------------------------------------------

# (class, file, PIL mode, size, colour, format); colours as PIL makes them.
FOLDER_IMAGES = [
    ('b_dog', 'grey.png', 'L', (40, 24), 77, 'PNG'),
    ('b_dog', 'rgba.png', 'RGBA', (16, 16), (10, 250, 128, 40), 'PNG'),
    ('a_cat', '1.png', 'RGB', (5, 9), (200, 30, 90), 'PNG'),
    ('a_cat', '2.jpg', 'RGB', (64, 48), (120, 60, 200), 'JPEG'),
    ('C_bird', 'palette.png', 'P', (7, 7), None, 'PNG'),
    ('C_bird', 'cmyk.jpg', 'CMYK', (30, 20), (0, 200, 100, 20), 'JPEG'),
]


def make_image(mode, size, colour) -> Image.Image:
  if mode == 'P':  # Palette index 1 -> (10, 20, 30).
    image = Image.new('P', size, 1)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    return image
  return Image.new(mode, size, colour)


def expected_rgb(mode, size, colour) -> tuple[int, int, int]:
  return make_image(mode, (1, 1), colour).convert('RGB').getpixel((0, 0))


@pytest.fixture
def mixed_folder(tmp_path):
  for cls, name, mode, size, colour, fmt in FOLDER_IMAGES:
    write(tmp_path / 'train' / cls / name, make_image(mode, size, colour), fmt)
  for cls in ('a_cat', 'b_dog', 'C_bird'):
    write(tmp_path / 'test' / cls / 'x.png', make_image('RGB', (9, 9), 0))
  (tmp_path / 'train' / 'a_cat' / 'Thumbs.db').write_bytes(b'junk')
  (tmp_path / 'train' / 'a_cat' / '.hidden.png').write_bytes(b'junk')
  return tmp_path


def test_folder_mixed_modes_and_sizes_sorted_classes(mixed_folder):
  config = make_config(dataset=f'folder:{mixed_folder}', num_classes=3,
                       image_size=8)
  assert data.class_names(config) == ['C_bird', 'a_cat', 'b_dog']
  assert data.dataset_info(config) == data.DatasetInfo(
      num_classes=3, num_train=6, num_test=3, image_shape=(8, 8, 3))
  got = concat(list(data.eval_batches(config, split='train')))
  assert got['mask'].sum() == 6
  # Examples are in class order, then file-name order within a class.
  order = sorted(FOLDER_IMAGES, key=lambda x: (['C_bird', 'a_cat', 'b_dog']
                                               .index(x[0]), x[1]))
  for image, label, (cls, name, mode, size, colour, _) in zip(
      got['image'], got['label'], order):
    pixels = to_uint8(image).reshape(-1, 3)  # [64, 3]
    assert np.ptp(pixels, axis=0).max() <= 2, name  # Uniform after resizing.
    want = expected_rgb(mode, size, colour)
    assert np.abs(pixels[0] - want).max() <= 4, (name, pixels[0], want)
    assert label == ['C_bird', 'a_cat', 'b_dog'].index(cls)
  batch = first(data.train_batches(config))
  assert batch['image'].shape == (4, 8, 8, 3)


def test_folder_config_helper_counts_classes(mixed_folder):
  config = make_config()
  common.set_dataset(config, f'folder:{mixed_folder}')
  assert (config.num_classes, config.train_split, config.test_split) == (
      3, 'train', 'test')


@pytest.mark.parametrize('layout', ['missing', 'empty', 'no_test', 'unnamed',
                                    'extra_class'])
def test_folder_errors_are_one_line_value_errors(tmp_path, layout):
  root = tmp_path / 'data'
  if layout == 'empty':
    root.mkdir()
  elif layout == 'no_test':
    write(root / 'train' / 'a' / '1.png', make_image('L', (4, 4), 1))
  elif layout == 'unnamed':  # Files without class folders or class prefixes.
    write(root / '1.png', make_image('L', (4, 4), 1))
  elif layout == 'extra_class':
    write(root / 'train' / 'a' / '1.png', make_image('L', (4, 4), 1))
    write(root / 'test' / 'b' / '1.png', make_image('L', (4, 4), 1))
  config = make_config(dataset=f'folder:{root}', num_classes=1)
  with pytest.raises(ValueError) as error:
    data.dataset_info(config)
  message = str(error.value)
  assert '\n' not in message and str(root) in message
  expected = {'missing': 'does not exist', 'empty': 'no class folders',
              'no_test': "no 'test' folder", 'unnamed': '<class>.<id>.<ext>',
              'extra_class': 'classes that'}[layout]
  assert expected in message


@pytest.mark.parametrize('layout', ['class_folders', 'named_files'])
def test_folder_without_splits_is_split_per_class_by_name(tmp_path, layout):
  counts = {'Cat': 10, 'Dog': 20}

  def path(cls, i):
    return (tmp_path / cls / f'{i}.png' if layout == 'class_folders'
            else tmp_path / f'{cls}.{i}.png')

  for cls, n in counts.items():
    for i in range(n):
      write(path(cls, i), make_image('L', (4, 4), i))
  config = make_config(dataset=f'folder:{tmp_path}', num_classes=2,
                       image_size=4)
  config.input.folder_test_fraction = 0.2
  info = data.dataset_info(config)
  assert (info.num_train, info.num_test) == (24, 6)
  splits = {s: folder.FolderSource(str(tmp_path), s, test_fraction=0.2)
            for s in ('train', 'test')}
  paths = {s: {src.describe(i) for i in range(len(src))}
           for s, src in splits.items()}
  assert not paths['train'] & paths['test']
  assert len(paths['train'] | paths['test']) == 30
  test_labels = [splits['test'][i]['label'] for i in range(6)]
  assert np.bincount(test_labels).tolist() == [2, 4]  # Stratified.
  assert data.class_names(config) == ['Cat', 'Dog']
  other = folder.FolderSource(str(tmp_path), 'test', test_fraction=0.5)
  assert len(other) == 15


# --- corrupt images ---------------------------------------------------------


@pytest.fixture
def corrupt_folder(tmp_path):
  for cls in ('a', 'b'):
    for i in range(4):
      write(tmp_path / 'train' / cls / f'{i}.png',
            make_image('RGB', (6, 6), (40 * i, 100 if cls == 'a' else 200, 0)))
    write(tmp_path / 'test' / cls / '0.png', make_image('RGB', (6, 6), 0))
  jpeg = encode(make_image('RGB', (32, 32), (1, 2, 3)), 'JPEG')
  # Sorted between 1.png and 2.png of class 'a': example index 2.
  write(tmp_path / 'train' / 'a' / '1_truncated.jpg', jpeg[:len(jpeg) // 2])
  return tmp_path


@pytest.mark.parametrize('cache_max_bytes', [0, 2**20])
def test_corrupt_image_raises_naming_its_path(corrupt_folder,
                                              cache_max_bytes):
  config = make_config(dataset=f'folder:{corrupt_folder}', num_classes=2,
                       image_size=6, batch_size=9, eval_batch_size=9)
  config.input.cache_max_bytes = cache_max_bytes
  assert data.dataset_info(config).num_train == 9  # Listing reads no image.
  with pytest.raises(ValueError, match=r'1_truncated\.jpg.*skip_corrupt'):
    first(data.eval_batches(config, split='train'))


@pytest.mark.parametrize('cache_max_bytes', [0, 2**20])
def test_skip_corrupt_uses_next_example_and_counts(corrupt_folder, caplog,
                                                   cache_max_bytes):
  config = make_config(dataset=f'folder:{corrupt_folder}', num_classes=2,
                       image_size=6, batch_size=9, eval_batch_size=9)
  config.input.cache_max_bytes = cache_max_bytes
  config.input.skip_corrupt = True
  with caplog.at_level(logging.WARNING):
    got = first(data.eval_batches(config, split='train'))
  np.testing.assert_array_equal(got['image'][2], got['image'][3])
  assert got['label'].tolist() == [0] * 5 + [1] * 4
  warnings = [r.getMessage() for r in caplog.records
              if '1_truncated.jpg' in r.getMessage()]
  assert len(warnings) == 1 and '1 corrupt image(s) skipped' in warnings[0]
  # Train batches stay a pure function of (config, step).
  again = [first(data.train_batches(config, start_step=3)) for _ in range(2)]
  np.testing.assert_array_equal(again[0]['image'], again[1]['image'])


# --- preprocessing ops ------------------------------------------------------


def random_images(b=6, size=12, channels=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (b, size, size, channels),
                                              np.uint8)


def test_default_train_pipeline_is_random_shift_then_to_float():
  # Pins the pre-op-list behaviour bit for bit (digits figures rely on it).
  config = make_config(dataset='synthetic', image_size=8, batch_size=8)
  config.input.random_shift = 1
  config.synthetic.num_train = 40
  batch = first(data.train_batches(config, start_step=2))
  source = synthetic.SyntheticSource(num_examples=40, image_shape=(8, 8, 3),
                                     num_classes=10, seed=0)
  indices = np.random.default_rng([config.seed, 0]).permutation(40)[16:24]
  seeds = preprocess.example_seeds(config.seed, 2, np.arange(8))
  images = np.stack([source[i]['image'] for i in indices])
  expected = preprocess.to_float(
      preprocess.random_shift(images, seeds, pixels=1), None)
  np.testing.assert_array_equal(batch['image'], expected)
  assert sorted(batch) == ['image', 'label']


@pytest.mark.parametrize('op', [
    lambda x, s: spatial.random_resized_crop(x, s, size=7),
    spatial.flip_lr,
    lambda x, s: randaugment.randaugment(x, s, num_layers=2, magnitude=9),
])
def test_random_ops_are_deterministic_per_example(op):
  images = random_images()
  seeds = preprocess.example_seeds(1, 5, np.arange(6))
  out = op(images, seeds)
  np.testing.assert_array_equal(out, op(images, seeds))
  assert out.dtype == np.uint8 and out.shape[0] == 6
  # An example's output depends on its own seed only, not on its batch.
  np.testing.assert_array_equal(op(images[2:4], seeds[2:4]), out[2:4])
  others = op(images, preprocess.example_seeds(2, 5, np.arange(6)))
  assert not np.array_equal(out, others)


def test_spatial_ops_shapes_and_content():
  images = random_images(b=64)
  seeds = preprocess.example_seeds(0, 0, np.arange(64))
  crops = spatial.random_resized_crop(images, seeds, size=5)
  assert crops.shape == (64, 5, 5, 3)
  grey = spatial.random_resized_crop(images[..., :1], seeds, size=5)
  assert grey.shape == (64, 5, 5, 1)
  flipped = spatial.flip_lr(images, seeds)
  mirrored = [np.array_equal(f, x[:, ::-1]) for f, x in zip(flipped, images)]
  kept = [np.array_equal(f, x) for f, x in zip(flipped, images)]
  assert all(m or k for m, k in zip(mirrored, kept))
  assert 16 < sum(mirrored) < 48
  centre = spatial.center_crop(images, None, size=8)
  np.testing.assert_array_equal(centre, images[:, 2:10, 2:10])
  assert spatial.center_crop(images, None, size=12) is images
  with pytest.raises(ValueError, match='resize_size'):
    spatial.center_crop(images, None, size=13)
  assert randaugment.randaugment(
      images[..., :1], seeds, num_layers=3, magnitude=5).shape == (
          64, 12, 12, 1)


def test_value_range():
  images = np.array([[[[0, 255]]]], np.uint8)
  np.testing.assert_array_equal(preprocess.to_float(images, None),
                                [[[[-1, 1]]]])
  np.testing.assert_array_equal(
      preprocess.to_float(images, None, value_range=(0.0, 1.0)), [[[[0, 1]]]])


def test_op_lists_by_name_resize_size_and_errors():
  config = make_config(dataset='synthetic', image_size=8)
  config.input.resize_size = 10
  config.input.train_ops = ('random_resized_crop', 'flip_lr')
  config.input.randaugment = (2, 5)
  config.input.value_range = (0.0, 1.0)
  assert data.dataset_info(config).image_shape == (8, 8, 3)
  batch = first(data.train_batches(config))
  assert batch['image'].shape == (4, 8, 8, 3)
  assert 0 <= batch['image'].min() and batch['image'].max() <= 1
  evaluated = first(data.eval_batches(config))  # Default eval: center crop.
  source = synthetic.SyntheticSource(num_examples=256, image_shape=(10, 10, 3),
                                     num_classes=10, seed=0, split='test')
  np.testing.assert_allclose(evaluated['image'][0],
                             source[0]['image'][1:9, 1:9] / 255, rtol=1e-6)
  for field, value, message in [
      ('train_ops', ('flip_lr',), 'not image_size'),
      ('train_ops', ('blur',), "unknown op 'blur'"),
      ('eval_ops', ('flip_lr',), 'deterministic'),
      ('mixup_alpha', -1.0, 'mixup_alpha')]:
    bad = make_config(dataset='synthetic', image_size=8)
    bad.input.resize_size = 10
    bad.input.train_ops = ('random_resized_crop',)
    bad.input[field] = value
    with pytest.raises(ValueError, match=message):
      data.dataset_info(bad)
  with pytest.raises(ValueError, match='blur'):
    op_lists.train_ops(('blur',), image_size=8)


# --- mixup ------------------------------------------------------------------


def test_mixup_batches():
  config = make_config(dataset='synthetic', image_size=8, batch_size=8)
  plain = list(itertools.islice(data.train_batches(config), 2))
  config.input.mixup_alpha = 0.4
  mixed = list(itertools.islice(data.train_batches(config), 2))
  for p, m in zip(plain, mixed):
    partner = np.arange(8) ^ 1
    np.testing.assert_array_equal(m['label'], p['label'])
    np.testing.assert_array_equal(m['label_mix'], p['label'][partner])
    assert m['label'].dtype == m['label_mix'].dtype == np.int32
    w = m['mix_weight']
    assert w.dtype == np.float32 and w.shape == (8,)
    assert ((0 <= w) & (w <= 1)).all() and len(set(w.tolist())) == 8
    np.testing.assert_allclose(
        m['image'], w[:, None, None, None] * p['image'] +
        (1 - w[:, None, None, None]) * p['image'][partner], atol=1e-6)
  # Pairs never straddle processes: slices concatenate to the global batch.
  parts = [first(data.train_batches(config, process_index=i, process_count=2))
           for i in range(2)]
  for key in ('image', 'label', 'label_mix', 'mix_weight'):
    np.testing.assert_array_equal(
        np.concatenate([parts[0][key], parts[1][key]]), mixed[0][key])
  odd = mixup.mixup(np.ones((3, 2, 2, 1), np.float32), np.arange(3),
                    np.arange(3, dtype=np.uint64), alpha=1.0)
  assert odd['label_mix'].tolist() == [1, 0, 2]


def test_mixup_loss_is_cross_entropy_of_mixed_targets():
  logits = jnp.array(np.random.default_rng(0).normal(size=(4, 5)), jnp.float32)
  label, label_mix = jnp.array([0, 1, 2, 3]), jnp.array([4, 1, 0, 2])
  w = jnp.array([1.0, 0.3, 0.5, 0.0])
  got = classification.batch_cross_entropy(
      logits, {'label': label, 'label_mix': label_mix, 'mix_weight': w})
  targets = (w[:, None] * jax_one_hot(label) +
             (1 - w[:, None]) * jax_one_hot(label_mix))
  np.testing.assert_allclose(
      got, optax.softmax_cross_entropy(logits, targets), rtol=1e-6)
  np.testing.assert_allclose(got[0],
                             classification.cross_entropy(logits, label)[0])
  np.testing.assert_allclose(
      classification.batch_cross_entropy(logits, {'label': label}, 0.1),
      classification.cross_entropy(logits, label, 0.1))


def jax_one_hot(labels):
  return jnp.eye(5)[labels]


# --- catsdogs on a local folder --------------------------------------------


def test_catsdogs_config_on_kaggle_style_folder(tmp_path):
  # Kaggle's dogs-vs-cats train.zip: train/cat.0.jpg ... train/dog.N.jpg.
  rng = np.random.default_rng(0)
  for cls in ('cat', 'dog'):
    for i in range(10):
      size = tuple(int(s) for s in rng.integers(20, 60, 2))
      write(tmp_path / 'train' / f'{cls}.{i}.jpg',
            Image.fromarray(rng.integers(0, 256, (*size, 3), np.uint8)),
            'JPEG')
  config = catsdogs.get_config(f'linformer,folder={tmp_path / "train"}')
  assert config.dataset == f'folder:{tmp_path / "train"}'
  assert config.dataset_fallback is None and config.num_classes == 2
  info = data.dataset_info(config)
  assert info == data.DatasetInfo(num_classes=2, num_train=16, num_test=4,
                                  image_shape=(224, 224, 3))
  assert data.class_names(config) == ['cat', 'dog']
  config.batch_size = 4
  batch = first(data.train_batches(config))
  assert batch['image'].shape == (4, 224, 224, 3)
  assert batch['image'].dtype == np.float32 and set(batch['label']) <= {0, 1}
