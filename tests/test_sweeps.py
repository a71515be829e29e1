"""The sweep launcher: grids, a tiny sweep with a failing point, resuming;
model FLOPs of the benchmarks; the sweep configs' grids."""

import csv
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from configs import common
from vit_jax import models
from vit_jax.benchmarking import model_flops
from vit_jax.benchmarking import step_memory
from vit_jax.sweeps import grid
from vit_jax.sweeps import runner
from vit_jax.errors import ConfigError


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
  assert float(table[0]['xla_flops_per_step']) > 0
  assert float(table[0]['model_flops_per_step']) > 0
  assert float(table[0]['utilization']) > 0
  assert int(table[0]['step_rss_bytes']) >= 0
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


def _tiny_vit(attention, dim=64, mlp=128):
  return models.get_model(common.vit_model(
      patch_size=2, hidden_size=dim, num_layers=2, num_heads=2, mlp_dim=mlp,
      attention=attention), 10)


# One example's model inputs: a 16x16 RGB image.
_IMAGES = (jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32),)


def _xla_forward_flops(model, batch=2, shape=(16, 16, 3)):
  images = jax.ShapeDtypeStruct((batch,) + shape, jnp.float32)
  variables = jax.eval_shape(
      lambda x: model.init(jax.random.key(0), x, train=False), images)
  forward = jax.jit(lambda v, x: model.apply(v, x, train=False))
  return forward.lower(variables, images).compile().cost_analysis()['flops']


def _hand_count(attention_core, b=2, n=65, d=64, mlp=128, classes=10):
  """Matmul FLOPs of the tiny ViT (16² images, patch 2, 2 layers), by hand."""
  patches = 2 * b * (n - 1) * (2 * 2 * 3) * d
  projections = 4 * 2 * b * n * d * d  # q, k, v, out.
  last_mlp_rows = 1  # The last block's MLP sees the cls token only.
  mlp_of = lambda rows: 2 * 2 * b * rows * d * mlp
  layers = 2 * (projections + attention_core) + mlp_of(n) + mlp_of(
      last_mlp_rows)
  return patches + layers + 2 * b * d * classes


@pytest.mark.parametrize('attention,core', [
    (dict(name='full', implementation='einsum'),
     2 * 2 * 2 * 65 * 65 * 64),  # q kᵀ and w v: 2 x 2 b n² d.
    (dict(name='linformer', k=16, max_length=65, sharing='none'),
     2 * (2 * 2 * 65 * 16 * 64) + 2 * 2 * 2 * 65 * 16 * 64),  # E K, F V; attn.
])
def test_model_flops_match_hand_count_and_xla(attention, core):
  model = _tiny_vit(attention)
  flops = model_flops.forward_flops(model, _IMAGES, batch=2)
  assert flops == _hand_count(core)
  # XLA also counts elementwise work (LayerNorm, GELU, softmax): a few % more.
  assert 1.0 < _xla_forward_flops(model) / flops < 1.06
  assert model_flops.step_flops(model, _IMAGES, 2, 'train') == 3 * flops


def test_model_flops_count_loops_that_xla_counts_once():
  einsum = model_flops.forward_flops(
      _tiny_vit(dict(name='full', implementation='einsum')), _IMAGES, 2)
  chunked_model = _tiny_vit(dict(name='full', implementation='chunked',
                                 query_chunk_size=16, key_chunk_size=32))
  chunked = model_flops.forward_flops(chunked_model, _IMAGES, 2)
  # Same model; chunks pad 65 keys to 66 (3 of 22): that much more, no less.
  assert einsum < chunked < einsum * 1.01
  assert _xla_forward_flops(chunked_model) < 0.9 * einsum  # XLA's undercount.


def test_model_flops_refuse_while_loops():
  jaxpr = jax.make_jaxpr(lambda x: jax.lax.while_loop(
      lambda c: c[1] < 3, lambda c: (c[0] @ c[0], c[1] + 1), (x, 0)))(
          jnp.ones((4, 4)))
  with pytest.raises(ValueError, match='while loop'):
    model_flops.jaxpr_flops(jaxpr.jaxpr)


def test_step_memory_sees_allocations_outside_xla():
  with step_memory.rss_growth() as growth:
    block = b'x' * (64 * 2**20)  # Written: its pages are resident.
    del block
  with step_memory.rss_growth() as idle:
    pass
  assert growth.bytes >= 60 * 2**20
  assert idle.bytes < 8 * 2**20


def test_accuracy_sweep_points_build_and_pass_the_config_checks():
  from configs import sweep_accuracy
  from vit_jax.training import config_checks
  config = sweep_accuracy.get_config()
  points = config.sweep
  assert len(points) == 2 * len(sweep_accuracy.GRID)
  assert len({p['name'] for p in points}) == len(points)
  seen = set()
  for p in points:
    point = grid.apply(config, p)
    n = common.num_tokens(point.image_size, point.model.patch_size, 'token')
    seen.add((point.dataset, n))
    attention = point.model.attention
    if attention.name == 'linformer':
      assert attention.max_length == n and attention.k < n
    else:
      assert attention.implementation == ('chunked' if n > 1024 else 'einsum')
    config_checks.check_training_fields(point, device_count=1,
                                        process_count=1)
    model = models.get_model(point.model, point.num_classes)
    # Both datasets are single-channel: pathfinder/32 native, digits upsampled.
    config_checks.check_model(model, [jax.ShapeDtypeStruct(
        (1, point.image_size, point.image_size, 1), jnp.float32)])
  assert seen == {('pathfinder/32', 65), ('pathfinder/32', 257),
                  ('pathfinder/32', 1025), ('digits', 65), ('digits', 257),
                  ('digits', 1025)}
  quick = sweep_accuracy.get_config('quick')
  assert {grid.apply(quick, p).total_steps for p in quick.sweep} == {300}
  assert max(common.num_tokens(grid.apply(quick, p).image_size,
                               grid.apply(quick, p).model.patch_size, 'token')
             for p in quick.sweep) == 257
