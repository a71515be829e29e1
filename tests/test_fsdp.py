"""Meshes and parameter sharding (config.mesh, config.sharding_rules): FSDP
steps equal 1-device steps, parameters and Adam's state are created sharded
(bytes per device), and checkpoints move between meshes."""

import contextlib
import io

import jax
import numpy as np
import pytest

from test_training import data_dir  # noqa: F401 (fixture)
from test_training import first_batches
from test_training import shared_compilation_cache  # noqa: F401 (fixture)
from test_training import tiny_config
from vit_jax import errors
from vit_jax.models import layer_layout
from vit_jax.training import checkpointing
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import sharding
from vit_jax.training import steps
from vit_jax.training import train_state
from vit_jax.training import trainer

FSDP = (('.*', 'fsdp(fsdp, 0)'),)  # Every divisible array, however small.
LR = 1e-2  # tiny_config's lr.base; Adam moves parameters by ~lr per step.


def _config(data_dir, mesh, rules=FSDP, **overrides):  # noqa: F811
  # tiny_config's dims (16 wide) divide 8 devices. No dropout: the masks'
  # per-device layout is not what this compares.
  return tiny_config(data_dir, mesh=mesh, sharding_rules=rules,
                     model__transformer__dropout_rate=0.0, **overrides)


def _assert_close(a, b):
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a),
                          jax.tree.leaves(b)):
    name = jax.tree_util.keystr(path)
    noise_only = "['key']['bias']" in name  # Zero gradient up to rounding.
    np.testing.assert_allclose(x, y, rtol=1e-5,
                               atol=2 * LR if noise_only else LR / 100,
                               err_msg=name)


def test_fsdp_state_is_created_sharded_a_sixth_per_device(data_dir, tmp_path):  # noqa: F811
  sizes = {}
  for name, mesh, rules in (('replicated', (('data', -1),), ()),
                            ('fsdp', (('fsdp', -1),), FSDP)):
    run = trainer.prepare_run(_config(data_dir, mesh, rules),
                              str(tmp_path / name))
    state = train_state.create_train_state(*run.state_args())
    sizes[name] = sharding.bytes_per_device(state)
    kernel = state.params['Transformer']['encoderblock_0']['MlpBlock_3'][
        'Dense_0']['kernel']
    adam_mu = jax.tree.leaves(state.opt_state)  # Sharded like the params.
  assert kernel.sharding.spec == jax.sharding.PartitionSpec('fsdp', None)
  assert max(x.addressable_shards[0].data.size for x in adam_mu) < 16 * 16
  assert sizes['fsdp'] <= sizes['replicated'] / 6, sizes


def test_fsdp_step_equals_one_device_step(data_dir, tmp_path):  # noqa: F811
  results = {}
  for name, mesh, rules in (('one', (('data', 1),), ()),
                            ('data_fsdp', (('data', 2), ('fsdp', 4)), FSDP)):
    config = _config(data_dir, mesh, rules)
    run = trainer.prepare_run(config, str(tmp_path / name))
    step = steps.make_train_step(run.model, run.task, run.tx, run.schedule,
                                 seed=config.seed, mesh=run.mesh,
                                 state_sharding=run.state_sharding)
    state = train_state.create_train_state(*run.state_args())
    for batch in first_batches(config, n=2):
      state, metrics = step(state, mesh_lib.shard_batch(batch, run.mesh))
    results[name] = jax.device_get((state, metrics))
    assert run.mesh.size == (1 if name == 'one' else 8)
  _assert_close(results['one'][0].params, results['data_fsdp'][0].params)
  np.testing.assert_allclose(results['one'][1]['train/loss'],
                             results['data_fsdp'][1]['train/loss'], rtol=1e-5)


def _train(config, workdir):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    final = trainer.train_and_evaluate(config, workdir)
  return final, out.getvalue()


def test_checkpoint_moves_between_meshes(data_dir, tmp_path):  # noqa: F811
  """Steps 1-2 on data x fsdp, 3 on one device, 4 replicated on 4 devices
  == 4 steps on the default mesh."""
  workdir = str(tmp_path / 'moved')
  _train(_config(data_dir, (('data', 2), ('fsdp', 4)), total_steps=2),
         workdir)
  _, out = _train(_config(data_dir, (('data', 1),), (), total_steps=3),
                  workdir)
  assert 'resumed from step 2' in out
  final, out = _train(_config(data_dir, (('data', 4),), (), total_steps=4),
                      workdir)
  assert 'resumed from step 3' in out
  reference, _ = _train(_config(data_dir, (('data', -1),), (), total_steps=4),
                        str(tmp_path / 'reference'))
  assert final['test/accuracy'] == pytest.approx(reference['test/accuracy'],
                                                 abs=1 / 360 + 1e-9)

  def restored(workdir, mesh, rules):
    run = trainer.prepare_run(_config(data_dir, mesh, rules), str(
        tmp_path / 'scratch' / workdir.split('/')[-1]))
    ckpt = checkpointing.Checkpointer(workdir, every_steps=1,
                                      max_to_keep=None, read_only=True)
    try:
      return jax.device_get(trainer.restore_or_create_state(run, ckpt))
    finally:
      ckpt.close()

  # Restored onto yet another placement: data x fsdp again.
  moved = restored(workdir, (('data', 2), ('fsdp', 4)), FSDP)
  _assert_close(restored(str(tmp_path / 'reference'), (('data', -1),), ()),
                moved)
  assert int(moved.step) == 4


def test_bad_mesh_and_rules_are_one_line_errors(data_dir, tmp_path):  # noqa: F811
  for mesh, rules, message in (
      ((('data', 3), ('fsdp', -1)), (), 'do not split'),
      ((('data', 16),), (), 'needs 16 devices'),
      ((('data', -1),), (('.*', 'fsdp(model, 1)'),), "no mesh axis 'model'"),
      ((('data', -1),), (('.*', 'shard'),), 'unknown sharding rule')):
    with pytest.raises(errors.ConfigError, match=message):
      trainer.prepare_run(_config(data_dir, mesh, rules), str(tmp_path))


def test_accumulation_under_fsdp_equals_one_device_full_batch(data_dir,  # noqa: F811
                                                               tmp_path):
  """grad_accum_steps with sharded parameters (kept sharded: plain-jit
  micro-batches) gives the full-batch step of one device."""
  results = {}
  for name, mesh, rules, k in (('one', (('data', 1),), (), 1),
                               ('fsdp_k2', (('data', 2), ('fsdp', 4)), FSDP,
                                2)):
    config = _config(data_dir, mesh, rules, batch_size=32,
                     grad_accum_steps=k)
    run = trainer.prepare_run(config, str(tmp_path / name))
    step = steps.make_train_step(run.model, run.task, run.tx, run.schedule,
                                 seed=config.seed, mesh=run.mesh,
                                 accum_steps=k,
                                 state_sharding=run.state_sharding)
    state = train_state.create_train_state(*run.state_args())
    for batch in first_batches(config, n=2):
      state, metrics = step(state, mesh_lib.shard_batch(batch, run.mesh))
    if k > 1:  # Still sharded after the steps.
      kernel = state.params['Transformer']['encoderblock_0']['MlpBlock_3'][
          'Dense_0']['kernel']
      assert kernel.sharding.spec == jax.sharding.PartitionSpec('fsdp', None)
    results[name] = jax.device_get((state, metrics))
  _assert_close(results['one'][0].params, results['fsdp_k2'][0].params)
  np.testing.assert_allclose(results['one'][1]['train/loss'],
                             results['fsdp_k2'][1]['train/loss'], rtol=1e-5)


def test_scanned_encoder_under_fsdp_equals_looped_one_device(data_dir,  # noqa: F811
                                                            tmp_path):
  """model.scan_layers under data x fsdp: stacked kernels are split on a
  feature axis (never the layer axis), and two steps equal the looped
  encoder's on one device."""
  results = {}
  for name, scan, mesh, rules in (
      ('loop', False, (('data', 1),), ()),
      ('scan', True, (('data', 2), ('fsdp', 4)), FSDP)):
    config = _config(data_dir, mesh, rules, model__scan_layers=scan,
                     model__transformer__num_layers=2)
    run = trainer.prepare_run(config, str(tmp_path / name))
    step = steps.make_train_step(run.model, run.task, run.tx, run.schedule,
                                 seed=config.seed, mesh=run.mesh,
                                 state_sharding=run.state_sharding)
    state = train_state.create_train_state(*run.state_args())
    if scan:  # The loop run's initial parameters (fresh Adam state is 0).
      state = state.replace(params=jax.device_put(
          layer_layout.to_scan(results['loop_init']),
          run.state_sharding.params))
      kernel = state.params['Transformer']['encoderblock']['MlpBlock_3'][
          'Dense_0']['kernel']  # [layers, 16, 16]
      assert kernel.shape == (2, 16, 16)
      assert kernel.sharding.spec[0] is None and 'fsdp' in kernel.sharding.spec
    else:
      results['loop_init'] = jax.device_get(state.params)
    for batch in first_batches(config, n=2):
      state, metrics = step(state, mesh_lib.shard_batch(batch, run.mesh))
    results[name] = jax.device_get((state, metrics))
  loop_params = results['loop'][0].params
  _assert_close(loop_params, layer_layout.to_loop(results['scan'][0].params))
  np.testing.assert_allclose(results['loop'][1]['train/loss'],
                             results['scan'][1]['train/loss'], rtol=1e-5)
