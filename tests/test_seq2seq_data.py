"""The reversal and dates builders: deterministic, correct, held out; read as
padded sequence pairs through the input pipeline."""

import datetime

import numpy as np
import pytest

from configs import common
from vit_jax.data import dates
from vit_jax.data import input_pipeline
from vit_jax.data import reversal
from vit_jax.data import token_sequences
from vit_jax.data.dates import dates_dataset_builder
from vit_jax.data.dates import generator as dates_generator
from vit_jax.data.reversal import reversal_dataset_builder

SMALL_REVERSAL = {'train': (300, (3, 8), 0), 'test': (40, (3, 8), 1),
                  'length_9_12': (20, (9, 12), 2)}
SMALL_DATES = {'train': (300, False, 0), 'test': (40, True, 1)}


def _records(builder, split):
  source = builder.as_data_source(split, file_format='array_record')
  return [source[i] for i in range(len(source))]


@pytest.fixture
def small_splits(monkeypatch):
  monkeypatch.setattr(reversal_dataset_builder, 'SPLITS', SMALL_REVERSAL)
  monkeypatch.setattr(dates_dataset_builder, 'SPLITS', SMALL_DATES)


@pytest.mark.parametrize('name', ['reversal', 'dates'])
def test_builders_are_deterministic(name, small_splits, tmp_path):
  module = {'reversal': reversal, 'dates': dates}[name]
  first = module.load_builder(str(tmp_path / 'a'))
  second = module.load_builder(str(tmp_path / 'b'))
  for split in first.info.splits:
    a, b = _records(first, split), _records(second, split)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
      for key in ('source', 'target'):
        np.testing.assert_array_equal(x[key], y[key])
  assert list(first.info.metadata['vocabulary']) == list(module.VOCABULARY)


def test_reversal_examples(small_splits, tmp_path):
  builder = reversal.load_builder(str(tmp_path))
  lengths = {split: spec[1] for split, spec in SMALL_REVERSAL.items()}
  for split, (lo, hi) in lengths.items():
    for record in _records(builder, split):
      source, target = record['source'], record['target']
      assert lo <= len(source) <= hi
      assert np.all(source >= len(token_sequences.SPECIAL_TOKENS))
      np.testing.assert_array_equal(target, list(source[::-1]) +
                                    [token_sequences.EOS])


def test_dates_examples_and_held_out_dates(small_splits, tmp_path):
  builder = dates.load_builder(str(tmp_path))
  test_dates = set(dates_generator.dates(held_out=True).tolist())
  train_dates = set(dates_generator.dates(held_out=False).tolist())
  assert not test_dates & train_dates
  assert 0.08 < len(test_dates) / (len(test_dates) + len(train_dates)) < 0.12
  seen_formats = set()
  for split, held_out in (('train', False), ('test', True)):
    for record in _records(builder, split):
      written = token_sequences.decode(record['source'], dates.VOCABULARY, '')
      iso = token_sequences.decode(record['target'], dates.VOCABULARY, '')
      day = datetime.date.fromisoformat(iso)
      assert (day.toordinal() in test_dates) == held_out
      assert written in dates_generator._formats(day)  # pylint: disable=protected-access
      seen_formats.add(dates_generator._formats(day).index(written))  # pylint: disable=protected-access
  assert len(seen_formats) == dates_generator.NUM_FORMATS


def test_format_examples():
  day = datetime.date(2026, 11, 23)
  formats = dates_generator._formats(day)  # pylint: disable=protected-access
  for expected in ('23 November 2026', 'nov 23, 26', '23/11/2026',
                   'Monday 23rd of November 2026', '2026-11-23'):
    assert expected in formats
  assert dates_generator._ordinal(11) == '11th'  # pylint: disable=protected-access
  assert dates_generator._ordinal(22) == '22nd'  # pylint: disable=protected-access


def test_pipeline_pads_each_split_to_its_longest(small_splits, tmp_path):
  config = common.trainer_defaults()
  config.dataset = 'reversal'
  config.data_dir = str(tmp_path)
  config.num_classes = len(reversal.VOCABULARY)
  config.batch_size = 16
  config.eval_batch_size = 16
  info = input_pipeline.dataset_info(config)
  assert info.image_shape == (8,) and info.num_train == 300
  batch = next(input_pipeline.train_batches(config))
  assert batch['source'].shape == (16, 8) and batch['target'].shape == (16, 9)
  for row, n in zip(batch['source'], batch['source_length']):
    assert np.all(row[n:] == token_sequences.PAD) and np.all(row[:n] > 2)
  np.testing.assert_array_equal(batch['target_length'],
                                batch['source_length'] + 1)
  again = next(input_pipeline.train_batches(config))
  for key in batch:
    np.testing.assert_array_equal(batch[key], again[key])
  long_batches = list(input_pipeline.eval_batches(config, split='length_9_12'))
  assert long_batches[0]['source'].shape == (16, 12)
  assert sum(b['mask'].sum() for b in long_batches) == 20
