"""The sweep launcher: grids, a tiny sweep with a failing point, resuming."""

import csv
import json
import os

import ml_collections
import pytest

from configs import common
from vit_jax.sweeps import grid
from vit_jax.sweeps import runner
from vit_jax.training.config_checks import ConfigError


def _tiny_config(points):
  config = common.trainer_defaults()
  config.mode = 'benchmark'
  config.dataset = 'synthetic'
  config.image_size = 8
  config.synthetic.num_train = 16
  config.synthetic.num_test = 8
  config.batch_size = 8  # Divisible by the 8 fake devices of the tests.
  config.eval_batch_size = 8
  config.total_steps = 1
  config.benchmark = ml_collections.ConfigDict(dict(kind='forward', steps=1))
  config.model = common.vit_model(
      patch_size=4, hidden_size=8, num_layers=1, num_heads=2, mlp_dim=8,
      attention=dict(name='full', implementation='einsum'))
  config.sweep = points
  return config


def test_product_names_and_overrides():
  points = grid.product(('image_size', [8, 16]),
                        ('model.attention', [dict(name='full'),
                                             dict(name='linformer', k=4)]))
  assert [p['name'] for p in points] == [
      '8-full', '8-linformer_4', '16-full', '16-linformer_4']
  assert points[3]['overrides'] == {'image_size': 16, 'model.attention':
                                    dict(name='linformer', k=4)}


def test_apply_sets_fields_and_rejects_unknown_ones():
  config = _tiny_config([])
  point = {'name': 'p', 'overrides': {
      'image_size': 16, 'model.attention': dict(name='linformer', k=3)}}
  applied = grid.apply(config, point)
  assert applied.image_size == 16 and applied.model.attention.k == 3
  assert config.image_size == 8  # The base config is left alone.
  with pytest.raises(ConfigError, match="no config field 'model.nope'"):
    grid.apply(config, {'name': 'bad', 'overrides': {'model.nope': 1}})


def test_sweep_records_success_and_failure_and_resumes(tmp_path):
  points = [
      {'name': 'ok', 'overrides': {}},
      # Designed to fail: 5 tokens do not fit Linformer's max_length of 2.
      {'name': 'too_long', 'overrides': {'model.attention': dict(
          name='linformer', k=2, max_length=2)}},
  ]
  config = _tiny_config(points)
  rows = runner.run_sweep(config, str(tmp_path))
  by_name = {r['name']: r for r in rows}
  assert by_name['ok']['status'] == 'ok'
  assert by_name['ok']['images_per_s'] > 0
  assert by_name['ok']['tokens'] == 5
  assert by_name['too_long']['status'] == 'failed'
  assert 'max_length' in by_name['too_long']['reason']

  with open(tmp_path / 'results.csv') as f:
    table = list(csv.DictReader(f))
  assert [r['name'] for r in table] == ['ok', 'too_long']
  assert set(runner.RESULT_COLUMNS) <= set(table[0])
  assert float(table[0]['flops_per_step']) > 0
  assert (tmp_path / 'forward_step_time.png').stat().st_size > 0

  # Re-running skips both finished points: their logs are not rewritten.
  log = tmp_path / 'ok' / 'log.txt'
  before = os.stat(log).st_mtime_ns
  again = runner.run_sweep(config, str(tmp_path))
  assert os.stat(log).st_mtime_ns == before
  assert [r['status'] for r in again] == ['ok', 'failed']
  with open(tmp_path / 'ok' / 'result.json') as f:
    assert json.load(f)['status'] == 'ok'


def test_point_over_the_memory_limit_is_killed_and_recorded(tmp_path):
  log = tmp_path / 'log.txt'
  status, reason = runner.run_child(
      ['python3', '-c', 'x = bytearray(300 * 2**20); import time; '
       'time.sleep(30)'], str(log), memory_limit_bytes=100 * 2**20,
      timeout_s=20)
  assert status == 'failed' and reason.startswith('out of memory')


def test_duplicate_point_names_are_refused(tmp_path):
  config = _tiny_config([{'name': 'a', 'overrides': {}},
                         {'name': 'a', 'overrides': {}}])
  with pytest.raises(ConfigError, match='unique'):
    runner.run_sweep(config, str(tmp_path / 'sweep'))
  assert not (tmp_path / 'sweep').exists()
