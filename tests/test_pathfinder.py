"""Tests of vit_jax/data/pathfinder: the image generator, its pixel-level
checker and the tfds builder prepared through the input pipeline. Offline."""

import numpy as np
import pytest

from configs import common
from vit_jax import data
from vit_jax.data.pathfinder import generator
from vit_jax.data.pathfinder import pathfinder_dataset_builder

# Images per size for the pixel checks (generation: ~1, 2, 5 ms per image).
SAMPLES = {32: 48, 64: 12, 128: 4}


@pytest.fixture(scope='module', params=generator.SIZES)
def sample(request):
  """(size, images, labels, layout) of the first SAMPLES[size] examples."""
  size = request.param
  indices = np.arange(SAMPLES[size])
  images, labels = generator.generate(size, 7, indices)
  return size, images, labels, generator.layout(size, 7, indices)


def test_generate_is_a_pure_function_of_seed_and_index():
  images, labels = generator.generate(32, 3, np.arange(12))
  again, _ = generator.generate(32, 3, np.arange(12))
  assert images.shape == (12, 32, 32, 1) and images.dtype == np.uint8
  assert images.tobytes() == again.tobytes()
  # Any batch: example i does not depend on the others generated with it.
  some, some_labels = generator.generate(32, 3, [11, 0, 5, 5])
  assert some.tobytes() == images[[11, 0, 5, 5]].tobytes()
  np.testing.assert_array_equal(some_labels, labels[[11, 0, 5, 5]])
  other, other_labels = generator.generate(32, 4, np.arange(12))
  np.testing.assert_array_equal(other_labels, labels)
  assert all(not np.array_equal(a, b) for a, b in zip(images, other))


def test_labels_alternate_and_are_balanced():
  labels = generator.labels(np.arange(1000))
  np.testing.assert_array_equal(labels[:4], [0, 1, 0, 1])
  assert labels.sum() == 500
  _, generated = generator.generate(32, 0, np.arange(10))
  np.testing.assert_array_equal(generated, labels[:10])


def test_layout_leaves_no_local_cue(sample):
  size, _, labels, scene = sample
  params = generator.PARAMS[size]
  paths, dots = scene['paths'], scene['dots']
  assert paths.shape[1:] == (params.num_paths, 2 * params.num_dashes, 2)
  ends = paths[:, :2, [0, -1]]  # [n, 2 targets, 2 ends, 2]
  # Every dot is on a target end: on target A's two ends for label 1, on one
  # end of A and one of B for label 0.
  distance = np.linalg.norm(dots[:, :, None, None] - ends[:, None], axis=-1)
  on_target = distance.reshape(len(dots), 2, 4).argmin(-1) // 2  # [n, 2]
  assert distance.reshape(len(dots), 2, 4).min(-1).max() < 1e-9
  np.testing.assert_array_equal(on_target[labels == 1], 0)
  np.testing.assert_array_equal(np.sort(on_target[labels == 0], 1),
                                np.broadcast_to([0, 1], (sum(labels == 0), 2)))
  # The dots are as far apart in both classes: A's end-to-end distance.
  np.testing.assert_allclose(np.linalg.norm(dots[:, 0] - dots[:, 1], axis=-1),
                             np.linalg.norm(ends[:, 0, 0] - ends[:, 0, 1],
                                            axis=-1), atol=1e-9)
  # Dashes have their length; different paths keep `separation` apart.
  dashes = paths[:, :, 1::2] - paths[:, :, 0::2]
  np.testing.assert_allclose(np.linalg.norm(dashes[:, :2], axis=-1),
                             params.dash_length)
  for scene_paths in paths[:3]:
    lines = [_densify(p[:2 * (params.num_dashes if k < 2 else
                              params.distractor_dashes)])
             for k, p in enumerate(scene_paths)]
    for k, line in enumerate(lines):
      for other in lines[k + 1:]:
        gap = np.linalg.norm(line[:, None] - other[None], axis=-1).min()
        assert gap > params.separation - 0.6  # Up to the point spacing.


def _densify(vertices, step=0.25):
  """Points <= step apart along a polyline [v, 2]."""
  t = np.linspace(0, 1, int(np.ceil(8 / step)) + 1)[:, None, None]
  return (vertices[:-1] + t * (vertices[1:] - vertices[:-1])).reshape(-1, 2)


def test_images_show_two_dots_and_connection_matches_label(sample):
  size, images, labels, scene = sample
  assert set(labels) == {0, 1}
  for image, label, dots in zip(images, labels, scene['dots']):
    found = generator.find_dots(image)
    assert len(found) == 2  # Both classes: exactly two dots ...
    # ... where the layout put them.
    error = np.linalg.norm(found[:, None] - dots[None], axis=-1)
    assert error.min(0).max() < 1.0
    assert generator.dots_connected(image) == bool(label)


def test_checker_follows_the_pixels():
  images, labels = generator.generate(32, 7, [0, 1])
  scene = generator.layout(32, 7, [0, 1])
  params = generator.PARAMS[32]
  positive = images[1, ..., 0].copy()
  # Erase target A's middle dash (and a pixel around it): the dots part.
  middle = scene['paths'][1, 0, 2 * (params.num_dashes // 2):][:2].mean(0)
  y, x = np.mgrid[:32, :32]
  positive[(x - middle[0])**2 + (y - middle[1])**2 <= 2.5**2] = 0
  assert not generator.dots_connected(positive)
  # Join a negative's dots with a line: they connect.
  assert list(labels) == [0, 1]
  negative = images[0, ..., 0].copy()
  (x0, y0), (x1, y1) = scene['dots'][0]
  for t in np.linspace(0, 1, 64):
    negative[int(round(y0 + t * (y1 - y0))),
             int(round(x0 + t * (x1 - x0)))] = 255
  assert generator.dots_connected(negative)


def test_prepared_through_input_pipeline(tmp_path, monkeypatch):
  monkeypatch.setitem(pathfinder_dataset_builder.SPLIT_SIZES, '32',
                      {'train': 48, 'test': 20})
  config = common.trainer_defaults()
  config.update(dict(
      seed=0, dataset='pathfinder/32', data_dir=str(tmp_path), num_classes=2,
      image_size=16, batch_size=16, eval_batch_size=8,
      input=dict(random_shift=0)))
  info = data.dataset_info(config)
  assert info == data.DatasetInfo(num_classes=2, num_train=48, num_test=20,
                                  image_shape=(16, 16, 1))
  assert (tmp_path / 'pathfinder' / '32' / '1.0.0').is_dir()
  batch = next(data.train_batches(config))
  assert batch['image'].shape == (16, 16, 16, 1)
  assert batch['image'].dtype == np.float32
  assert set(batch['label']) <= {0, 1}
  evaluated = list(data.eval_batches(config))
  labels = np.concatenate([b['label'][b['mask'] == 1] for b in evaluated])
  assert len(labels) == 20 and labels.sum() == 10  # Balanced.
  # The stored examples are the generator's (train stream, indices 0..47).
  builder = pathfinder_dataset_builder.load_builder(32, str(tmp_path))
  source = builder.as_data_source('train')
  stored = sorted((r['image'].tobytes(), int(r['label']))
                  for r in source.__getitems__(list(range(len(source)))))
  images, expected_labels = generator.generate(
      32, pathfinder_dataset_builder.SEEDS['train'], np.arange(48))
  assert stored == sorted((i.tobytes(), int(l))
                          for i, l in zip(images, expected_labels))
