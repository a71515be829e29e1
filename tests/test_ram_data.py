"""The translated and cluttered digits: deterministic, and what they claim."""

import numpy as np
import pytest

from vit_jax.data import translated_digits
from vit_jax.data.translated_digits import generator
from vit_jax.data.translated_digits import translated_digits_dataset_builder as tdb


def _digits():
  rng = np.random.default_rng(0)
  return rng.integers(1, 256, size=(5, generator.DIGIT, generator.DIGIT),
                      dtype=np.uint8)  # No zero pixel: every one is ink.


def test_translated_holds_exactly_the_digit():
  digits = _digits()
  pool = np.array([0, 2, 4])
  for index in range(6):
    canvas = generator.generate('translated', digits, pool, seed=3,
                                index=index)
    assert canvas.shape == (generator.CANVAS, generator.CANVAS)
    ys, xs = np.nonzero(canvas)
    assert np.ptp(ys) + 1 == np.ptp(xs) + 1 == generator.DIGIT
    window = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    np.testing.assert_array_equal(window, digits[pool[index % 3]])


def test_cluttered_adds_fragments_and_is_a_pure_function_of_the_index():
  digits = _digits()
  pool = np.arange(5)
  a = generator.generate('cluttered', digits, pool, seed=1, index=7)
  b = generator.generate('cluttered', digits, pool, seed=1, index=7)
  np.testing.assert_array_equal(a, b)
  plain = generator.generate('translated', digits, pool, seed=1, index=7)
  assert np.count_nonzero(a) > np.count_nonzero(plain)
  assert not np.array_equal(
      a, generator.generate('cluttered', digits, pool, seed=2, index=7))
  with pytest.raises(ValueError, match='unknown kind'):
    generator.generate('rotated', digits, pool, seed=1, index=0)


def test_upsample_is_bilinear_3x():
  image = np.zeros((1, 8, 8), np.uint8)
  image[0, 4, 4] = 255
  up = generator.upsample(image)
  assert up.shape == (1, 24, 24) and up.max() == 255
  assert up[0, 13, 13] == 255 and up[0, 0, 0] == 0


def test_splits_keep_the_digits_test_set_apart():
  split = tdb.split_indices()
  assert len(split['test']) == 360 and len(split['train']) == 1437
  assert not set(split['train']) & set(split['test'])


def test_builder_is_deterministic(tmp_path, monkeypatch):
  monkeypatch.setattr(tdb, 'COPIES', {'train': 1, 'test': 1})
  sources = []
  for name in ('a', 'b'):
    builder = translated_digits.load_builder('cluttered', str(tmp_path / name))
    sources.append({split: builder.as_data_source(split)
                    for split in ('train', 'test')})
  for split, size in (('train', 1437), ('test', 360)):
    first, second = sources[0][split], sources[1][split]
    assert len(first) == len(second) == size
    for i in range(0, size, 37):
      np.testing.assert_array_equal(first[i]['image'], second[i]['image'])
      assert first[i]['label'] == second[i]['label']
    assert first[0]['image'].shape == (60, 60, 1)
