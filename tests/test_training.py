"""Tests of vit_jax/training in-process: sharding invariance, determinism,
checkpoint resume, evaluation, config parsing and config errors. CPU, offline,
8 fake devices (tests/conftest.py)."""

import contextlib
import dataclasses
import io
import json
import os
import shutil

import jax
from jax.experimental.compilation_cache import compilation_cache
import numpy as np
import pytest

from configs import common
from configs import default
from vit_jax.data import digits
from vit_jax.data import input_pipeline
from vit_jax import errors
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import steps
from vit_jax.training import train_state
from vit_jax.training import trainer

TRAIN_KEYS = ('train/loss', 'train/accuracy', 'train/learning_rate',
              'train/grad_norm', 'train/images_per_s')
TEST_KEYS = ('test/loss', 'test/accuracy')


@pytest.fixture(scope='module', autouse=True)
def shared_compilation_cache(tmp_path_factory):
  """Reuses executables of identical programs across tests (speed only).

  Without it every `jax.jit` of a fresh closure recompiles: the trainer runs
  and the step tests build the same train step, init and eval programs.
  Restores jax's settings afterwards so other modules are unaffected.
  """
  names = ('jax_compilation_cache_dir',
           'jax_persistent_cache_min_compile_time_secs',
           'jax_persistent_cache_min_entry_size_bytes')
  saved = {name: getattr(jax.config, name) for name in names}
  jax.config.update('jax_compilation_cache_dir',
                    str(tmp_path_factory.getbasetemp() / 'jax_cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  compilation_cache.reset_cache()
  yield
  for name, value in saved.items():
    jax.config.update(name, value)
  compilation_cache.reset_cache()


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  """A tfds data_dir with digits prepared, shared by the test modules."""
  path = tmp_path_factory.getbasetemp() / 'tfds_digits'
  digits.load_builder(str(path))  # Idempotent; locked against races.
  return str(path)


def tiny_config(data_dir, arg='full', **overrides):
  """configs/default.py shrunk to seconds: 8x8 images, 5 tokens, dim 16.

  Args:
    data_dir: tfds data_dir holding digits.
    arg: the config argument, as in --config=configs/default.py:ARG.
    **overrides: dotted keys with '__' for '.', e.g. model__patch_size=2.

  Returns:
    A locked ConfigDict (typos in overrides raise).
  """
  config = default.get_config(arg)
  config.lock()
  config.update_from_flattened_dict({
      'image_size': 8, 'model.patch_size': 4, 'model.hidden_size': 16,
      'model.transformer.num_layers': 1, 'model.transformer.num_heads': 2,
      'model.transformer.mlp_dim': 16, 'model.transformer.dropout_rate': 0.1,
      'batch_size': 16, 'eval_batch_size': 64, 'total_epochs': None,
      'total_steps': 4, 'lr.decay': 'constant', 'lr.warmup_steps': 0,
      'lr.base': 1e-2, 'log_every_steps': 2, 'eval_every_steps': 1000,
      'checkpoint_every_steps': 2, 'data_dir': data_dir})
  config.update_from_flattened_dict(
      {k.replace('__', '.'): v for k, v in overrides.items()})
  return config


def restore_final_state(config, workdir, scratch):
  """The latest checkpoint of `workdir`, on the 8-device mesh, as NumPy.

  Also checks `trainer.load_state`'s saved config against `config`; `scratch`
  must stay untouched (load_state writes nothing).
  """
  saved_config, state = trainer.load_state(str(workdir))
  as_json = lambda c: json.loads(c.to_json_best_effort())
  assert as_json(saved_config) == as_json(config)
  assert not os.path.exists(scratch)
  return jax.device_get(state)


def read_metrics(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def assert_trees_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def snapshot(path):
  """{relative path: bytes} of every file under `path` (None if absent)."""
  if not os.path.exists(path):
    return None
  files = {}
  for root, dirs, names in os.walk(path):
    for name in dirs + names:
      full = os.path.join(root, name)
      rel = os.path.relpath(full, path)
      if os.path.isdir(full):
        files[rel + '/'] = b''
      else:
        with open(full, 'rb') as f:
          files[rel] = f.read()
  return files


def train_and_capture(config, workdir):
  """train_and_evaluate, returning (final metrics, printed output)."""
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    final = trainer.train_and_evaluate(config, workdir)
  return final, out.getvalue()


# Step level: sharding invariance, determinism, seeds.


@dataclasses.dataclass
class StepSetup:
  config: object
  run: trainer.Run
  step_8: object  # Jitted train step on the 8-device mesh, seed 0.


@pytest.fixture(scope='module')
def step_setup(data_dir, tmp_path_factory):
  config = tiny_config(data_dir)
  run = trainer.prepare_run(config, str(tmp_path_factory.mktemp('steps')))
  assert run.mesh.size == 8
  step_8 = steps.make_train_step(
      run.model, run.task, run.tx, run.schedule, seed=config.seed,
      mesh=run.mesh)
  return StepSetup(config, run, step_8)


def train_steps(setup, mesh, train_step, batches, seed):
  """Fresh state of `seed`, `train_step` over `batches`; NumPy results."""
  run = setup.run
  state = train_state.create_train_state(
      run.model, run.tx, run.task.init_inputs(run.info), seed, mesh)
  metrics = []
  for batch in batches:
    state, m = train_step(state, mesh_lib.shard_batch(batch, mesh))
    metrics.append(m)
  return jax.device_get(state), jax.device_get(metrics)


def first_batches(config, n=2):
  it = input_pipeline.train_batches(config)
  return [next(it) for _ in range(n)]


def test_train_step_on_8_devices_equals_1_device(step_setup):
  """Two steps (with dropout) on 8 devices match 1 device up to rounding."""
  setup = step_setup
  batches = first_batches(setup.config)
  mesh_1 = mesh_lib.make_mesh(devices=jax.devices()[:1])
  step_1 = steps.make_train_step(
      setup.run.model, setup.run.task, setup.run.tx, setup.run.schedule,
      seed=setup.config.seed, mesh=mesh_1)
  state_8, metrics_8 = train_steps(setup, setup.run.mesh, setup.step_8,
                                   batches, setup.config.seed)
  state_1, metrics_1 = train_steps(setup, mesh_1, step_1, batches,
                                   setup.config.seed)
  init = jax.device_get(train_state.init_params(
      setup.run.model, setup.run.task.init_inputs(setup.run.info),
      setup.config.seed))
  assert int(state_8.step) == int(state_1.step) == 2
  # The steps moved the parameters (else the comparison would be vacuous).
  assert not np.allclose(init['head']['kernel'],
                         state_8.params['head']['kernel'])
  # The key bias has a zero gradient in exact arithmetic (softmax ignores a
  # shift shared by all keys); Adam scales its rounding noise up to ~lr, so
  # it matches only to that scale. Elsewhere Adam's per-element normalisation
  # still magnifies rounding in near-zero gradients (seen: 3e-6 = lr / 600);
  # a wrong reduction or sharding moves parameters by ~lr.
  lr = setup.config.lr.base
  paths_8 = jax.tree_util.tree_leaves_with_path(state_8.params)
  for (path, a), b in zip(paths_8, jax.tree.leaves(state_1.params)):
    name = jax.tree_util.keystr(path)
    noise_only = "['key']['bias']" in name
    np.testing.assert_allclose(a, b, rtol=1e-5,
                               atol=2 * lr if noise_only else lr / 100,
                               err_msg=name)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6),
               metrics_8, metrics_1)


def test_same_seed_same_params_other_seed_different(step_setup):
  """Fresh state + fresh data iterator twice: bit-identical; seed 1 differs."""
  setup = step_setup
  mesh = setup.run.mesh
  first = train_steps(setup, mesh, setup.step_8,
                      first_batches(setup.config), setup.config.seed)
  second = train_steps(setup, mesh, setup.step_8,
                       first_batches(setup.config), setup.config.seed)
  assert_trees_equal(first, second)

  other = tiny_config(setup.config.data_dir, seed=1)
  step_other = steps.make_train_step(
      setup.run.model, setup.run.task, setup.run.tx, setup.run.schedule,
      seed=other.seed, mesh=mesh)
  other_batches = first_batches(other)
  assert not np.array_equal(other_batches[0]['image'],
                            first_batches(setup.config)[0]['image'])
  state_other, _ = train_steps(setup, mesh, step_other, other_batches,
                               other.seed)
  for name in ('embedding', 'head'):  # Random and zero initialised.
    assert not np.allclose(first[0].params[name]['kernel'],
                           state_other.params[name]['kernel']), name


# Trainer level: checkpoint resume, logs, evaluation.


@dataclasses.dataclass
class Runs:
  config: object
  workdir_a: str  # Uninterrupted: steps 0 -> 4.
  final_a: dict
  workdir_b: str  # Steps 0 -> 2, then resumed 2 -> 4.
  final_b1: dict
  final_b: dict
  output_b: str


@pytest.fixture(scope='module')
def runs(data_dir, tmp_path_factory):
  config = tiny_config(data_dir, total_steps=4)
  workdir_a = str(tmp_path_factory.mktemp('run_a'))
  workdir_b = str(tmp_path_factory.mktemp('run_b'))
  final_a, _ = train_and_capture(config, workdir_a)
  final_b1, _ = train_and_capture(tiny_config(data_dir, total_steps=2),
                                  workdir_b)
  final_b, output_b = train_and_capture(config, workdir_b)
  return Runs(config, workdir_a, final_a, workdir_b, final_b1, final_b,
              output_b)


def test_resumed_run_equals_uninterrupted_run(runs, tmp_path):
  """Run 0->2 then 2->4 in one workdir == run 0->4: state, metrics, logs."""
  assert 'resumed from step 2' in runs.output_b
  assert runs.final_b == runs.final_a
  state_a = restore_final_state(runs.config, runs.workdir_a, tmp_path / 'a')
  state_b = restore_final_state(runs.config, runs.workdir_b, tmp_path / 'b')
  assert int(state_a.step) == int(state_b.step) == 4
  assert_trees_equal(state_a, state_b)

  def rows(workdir):  # step -> logged values, without wall-clock figures.
    merged = {}
    for row in read_metrics(workdir):
      row.pop('train/images_per_s', None)
      merged.setdefault(row['step'], {}).update(row)
    return merged

  rows_a, rows_b = rows(runs.workdir_a), rows(runs.workdir_b)
  # Step 2 shows that the same seed reproduces a run (run B1 also evaluated
  # there, as its last step); step 4 the resume.
  assert {k: v for k, v in rows_b[2].items() if 'test/' not in k} == rows_a[2]
  assert rows_a[4] == rows_b[4]
  assert rows_a[4]['test/accuracy'] == runs.final_a['test/accuracy']


def test_workdir_has_config_and_metrics(runs):
  """config.json is the resolved config; metrics.jsonl has the documented keys."""
  with open(os.path.join(runs.workdir_a, 'config.json')) as f:
    saved = json.load(f)
  assert saved == json.loads(runs.config.to_json_best_effort())
  rows = read_metrics(runs.workdir_a)
  assert all('step' in row for row in rows)
  train_rows = [r for r in rows if 'train/loss' in r]
  test_rows = [r for r in rows if 'test/loss' in r]
  assert [r['step'] for r in train_rows] == [2, 4]
  for row in train_rows:
    assert set(TRAIN_KEYS) <= set(row), row
    assert np.isfinite([row[k] for k in TRAIN_KEYS]).all(), row
    assert row['train/images_per_s'] > 0
    assert row['train/learning_rate'] == pytest.approx(runs.config.lr.base)
    assert 0 <= row['train/accuracy'] <= 1
  assert test_rows and test_rows[-1]['step'] == 4
  assert set(TEST_KEYS) <= set(test_rows[-1])
  assert sorted(os.listdir(os.path.join(runs.workdir_a, 'checkpoints'))) == [
      '2', '4']


def test_finished_run_started_again_reports_without_new_rows(runs, tmp_path):
  """The same command on a finished run re-evaluates and prints the result;
  metrics.jsonl still holds each step's test row once."""
  workdir = str(tmp_path / 'finished')
  shutil.copytree(runs.workdir_a, workdir)
  final, output = train_and_capture(runs.config, workdir)
  assert final == runs.final_a
  assert 'final test accuracy' in output
  test_steps = [r['step'] for r in read_metrics(workdir) if 'test/loss' in r]
  assert test_steps == [r['step'] for r in read_metrics(runs.workdir_a)
                        if 'test/loss' in r] == [4]


def test_evaluation_covers_whole_test_split(runs, tmp_path):
  """test/count is the split size though 64 does not divide 360; padding is
  excluded (equal loss and accuracy with an eval batch that divides 360)."""
  assert runs.config.eval_batch_size == 64
  assert runs.final_a['test/count'] == 360  # The digits test split; 64 * 6 = 384.
  params = restore_final_state(runs.config, runs.workdir_a,
                               tmp_path / 'restore').params
  results = {}
  for batch_size in (64, 120):
    config = tiny_config(runs.config.data_dir, eval_batch_size=batch_size)
    run = trainer.prepare_run(config, str(tmp_path / str(batch_size)))
    results[batch_size] = trainer.Evaluations(run).run(['test'], params)
  assert results[64]['test/count'] == results[120]['test/count'] == 360
  assert results[64]['test/accuracy'] == pytest.approx(
      results[120]['test/accuracy'], abs=1e-9)
  assert results[64]['test/loss'] == pytest.approx(
      results[120]['test/loss'], rel=1e-5)
  assert results[64]['test/accuracy'] == pytest.approx(
      runs.final_a['test/accuracy'], abs=1e-9)


# Config parsing.


def test_parse_arg_positional_keys_and_types():
  """Bare word -> first key (or a bool flag), key=value typed, typos fail."""
  defaults = dict(attention='full', k=8, sharing='headwise', runlocal=False)
  args = common.parse_arg('linformer,k=4,sharing=kv', **defaults)
  assert (args.attention, args.k, args.sharing, args.runlocal) == (
      'linformer', 4, 'kv', False)
  assert isinstance(args.k, int)
  args = common.parse_arg('runlocal', **defaults)
  assert (args.attention, args.runlocal) == ('full', True)
  assert common.parse_arg(None, **defaults).to_dict() == defaults
  assert common.parse_arg('', **defaults).to_dict() == defaults
  with pytest.raises(ValueError, match='unknown config argument'):
    common.parse_arg('linformer,kk=4', **defaults)
  with pytest.raises(ValueError):
    common.parse_arg('k=four', **defaults)


def test_default_config_linformer_max_length_is_token_count():
  """default.py:linformer sizes Linformer to patches + cls token."""
  config = default.get_config('linformer,k=4,sharing=kv')
  attention = config.model.attention
  tokens = (config.image_size // config.model.patch_size)**2 + 1  # + cls.
  assert attention.name == 'linformer'
  assert (attention.k, attention.sharing) == (4, 'kv')
  assert attention.max_length == tokens
  assert default.get_config('full').model.attention.name == 'full'
  with pytest.raises(ValueError):
    default.get_config('linformer,typo=1')


# Config errors: one line, before anything is written.

BAD_CONFIGS = {
    'unknown_attention': (dict(model__attention__name='nope'), 'nope'),
    'image_not_divisible_by_patch': (dict(image_size=10), 'patch_size'),
    'batch_not_divisible_by_devices': (dict(batch_size=12), 'batch_size=12'),
    'num_classes_mismatch': (dict(num_classes=7), 'num_classes'),
    'linformer_max_length_too_short': (
        dict(arg='linformer', model__attention__max_length=3), 'max_length'),
}


@pytest.fixture(scope='module')
def previous_run(runs):
  """Runs' workdir A, as a template for 'a workdir with a previous run'."""
  return runs.workdir_a


def _check_config_error(config, workdir, expected_substring):
  before = snapshot(workdir)
  with pytest.raises(errors.ConfigError) as e:
    trainer.prepare_run(config, workdir)
  message = str(e.value)
  assert message.strip() and '\n' not in message, repr(message)
  assert expected_substring in message, message
  assert snapshot(workdir) == before


@pytest.mark.parametrize('name', sorted(BAD_CONFIGS))
def test_bad_config_fails_before_creating_workdir(name, data_dir, tmp_path):
  """A one-line ConfigError; the missing workdir (and parent) stays missing."""
  overrides, expected = BAD_CONFIGS[name]
  config = tiny_config(data_dir, **overrides)
  workdir = str(tmp_path / 'new' / 'run')
  _check_config_error(config, workdir, expected)
  assert not os.path.exists(tmp_path / 'new')


@pytest.mark.parametrize('name', sorted(BAD_CONFIGS) + ['other_model'])
def test_bad_config_leaves_previous_run_untouched(name, data_dir, tmp_path,
                                                  previous_run):
  """A one-line ConfigError; a workdir with a run keeps its bytes."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(previous_run, workdir)
  if name == 'other_model':  # A valid config, but not the workdir's.
    config, expected = tiny_config(data_dir, model__hidden_size=32), (
        'model.hidden_size')
  else:
    overrides, expected = BAD_CONFIGS[name]
    config = tiny_config(data_dir, **overrides)
  _check_config_error(config, workdir, expected)
