"""Bad inputs and faults a new user meets: each ends in one clear error and
leaves the workdir as it was (in-process; the command line itself is tested
in test_launch.py)."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from configs import default
from test_training import data_dir  # noqa: F401 (fixture)
from test_training import shared_compilation_cache  # noqa: F401 (fixture)
from test_training import tiny_config
from test_training import train_and_capture
from vit_jax import cli
from vit_jax import errors
from vit_jax.sweeps import runner
from vit_jax.training import config_validation
from vit_jax.training import metrics_log
from vit_jax.training import trainer
from vit_jax.training import workdir as workdir_lib


def snapshot(workdir):
  """{relative path: sha256} of every file under `workdir`."""
  result = {}
  for root, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        result[os.path.relpath(path, workdir)] = hashlib.sha256(
            f.read()).hexdigest()
  return result


# One validation pass: each bad value names its field.

BAD_VALUES = {
    # dotted field: (value, expected in the message)
    'lr.base': (-1e-3, 'config.lr.base=-0.001: must be > 0'),
    'grad_clip_norm': (-1.0, 'config.grad_clip_norm'),
    'label_smoothing': (1.0, 'config.label_smoothing'),
    'model.dtype': ('int32', 'config.model.dtype'),
    'input.randaugment': ((-1, 5), 'num_layers must be >= 0'),
    'max_to_keep': (0, 'config.max_to_keep=0: must be >= 1'),
    'batch_size': (0, 'config.batch_size=0: must be >= 1'),
    'seed': (-1, 'config.seed'),
    'checkpoint_every_steps': (0, 'config.checkpoint_every_steps'),
    'log_every_steps': (-5, 'config.log_every_steps'),
    'model.transformer.num_heads': (0, 'config.model.transformer.num_heads'),
    'model.patch_size': (0, 'config.model.patch_size'),
    'model.hidden_size': (-8, 'config.model.hidden_size'),
    'image_size': (0, 'config.image_size'),
    'model.attention.k': (0, 'config.model.attention.k=0'),
    'model.attention.sharing': ('all', 'config.model.attention.sharing'),
    'input.value_range': ((1.0,), 'config.input.value_range'),
    'benchmark.steps': (0, 'config.benchmark.steps'),
    'optimizer.name': ('adam', 'config.optimizer.name'),
    'mode': ('serve', 'config.mode'),
}


@pytest.mark.parametrize('field', sorted(BAD_VALUES))
def test_bad_value_is_one_error_naming_the_field(field):
  value, expected = BAD_VALUES[field]
  config = default.get_config('linformer')
  config.unlock()
  *parents, leaf = field.split('.')
  node = config
  for name in parents:
    node = node[name]
  node[leaf] = value
  with pytest.raises(errors.ConfigError) as raised:
    config_validation.validate(config)
  message = str(raised.value)
  assert expected in message and '\n' not in message, message


def test_default_configs_pass_validation():
  for arg in ('full', 'linformer'):
    config_validation.validate(default.get_config(arg))


def test_unknown_override_names_the_field_and_a_suggestion():
  config = default.get_config('full')
  argv = ['launch.py', '--config.model.attention.k=4']
  assert cli.unknown_field_message(argv, config) == (
      'no config field model.attention.k (model.attention has: '
      'implementation, name)')
  argv = ['launch.py', '--config.total_stepz=4']
  assert cli.unknown_field_message(argv, config) == (
      'no config field total_stepz (did you mean total_steps?)')


# The workdir: checked before written, refused runs change nothing.


def test_config_json_that_is_not_a_record_is_refused(data_dir, tmp_path):
  for content in ('{}', '[1, 2, 3]', '', '{"model": {'):
    workdir = tmp_path / f'w{len(content)}'
    workdir.mkdir()
    (workdir / 'config.json').write_text(content)
    before = snapshot(workdir)
    with pytest.raises(errors.ConfigError, match='config.json'):
      trainer.train_and_evaluate(tiny_config(data_dir), str(workdir))
    assert snapshot(workdir) == before


def test_run_files_without_a_record_are_refused(data_dir, tmp_path):
  (tmp_path / 'checkpoints').mkdir()
  (tmp_path / 'metrics.jsonl').write_text('mine\n')
  with pytest.raises(errors.ConfigError, match='no config.json'):
    trainer.train_and_evaluate(tiny_config(data_dir), str(tmp_path))
  assert (tmp_path / 'metrics.jsonl').read_text() == 'mine\n'
  assert not (tmp_path / 'config.json').exists()


@pytest.fixture(scope='module')
def finished_run(data_dir, tmp_path_factory):
  """A run of 4 steps with checkpoints at 2 and 4 (max_to_keep 2)."""
  workdir = str(tmp_path_factory.mktemp('finished'))
  train_and_capture(tiny_config(data_dir), workdir)
  return workdir


def test_refused_changes_leave_the_run_untouched(data_dir, finished_run):
  before = snapshot(finished_run)
  refused = {
      # A shrinking max_to_keep would delete checkpoints the run has.
      'max_to_keep=1': dict(max_to_keep=1),
      # Its model is at step 4: it must not report step 2's result.
      'total_steps=2': dict(total_steps=2),
      'another lr': dict(lr__base=0.5),
  }
  for name, overrides in refused.items():
    with pytest.raises(errors.ConfigError):
      train_and_capture(tiny_config(data_dir, **overrides), finished_run)
    assert snapshot(finished_run) == before, name


def test_busy_workdir_refusal_rewrites_nothing(data_dir, finished_run):
  before = snapshot(finished_run)
  with workdir_lib.exclusive(finished_run, is_writer=True):
    with pytest.raises(errors.ConfigError, match='in use'):
      # A resumable change: without the lock it would rewrite config.json.
      train_and_capture(tiny_config(data_dir, total_steps=999), finished_run)
  after = snapshot(finished_run)
  assert after.pop('.lock', None) is not None
  before.pop('.lock', None)
  assert after == before


def test_predict_reads_only(data_dir, finished_run):
  before = snapshot(finished_run)
  os.chmod(finished_run, 0o555)
  try:
    config = tiny_config(data_dir, mode='predict')
    logits = trainer.predict(config, finished_run)
  finally:
    os.chmod(finished_run, 0o755)
  assert logits.shape == (1, 10) and np.isfinite(logits).all()
  assert snapshot(finished_run) == before


def test_unreadable_latest_checkpoint_falls_back_and_is_kept(data_dir,
                                                            tmp_path):
  workdir = str(tmp_path / 'run')
  train_and_capture(tiny_config(data_dir), workdir)
  data_files = [os.path.join(root, name)
                for root, _, names in os.walk(
                    os.path.join(workdir, 'checkpoints', '4', 'state'))
                for name in names if os.sep + 'd' + os.sep in
                os.path.join(root, name)]
  assert data_files
  for path in data_files:
    open(path, 'w').close()  # Truncated, as by a crash.
  _, out = train_and_capture(tiny_config(data_dir, total_steps=6), workdir)
  assert 'resumed from step 2' in out
  kept = os.path.join(workdir, 'unreadable_checkpoints', '4')
  assert os.path.isdir(kept)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['4', '6']
  steps = [r['step'] for r in metrics_log.read_metrics(workdir)
           if 'train/loss' in r]
  assert steps == sorted(set(steps)), steps  # Each step logged once.


def test_nan_parameters_are_never_saved(tmp_path):
  """lr = nan leaves loss and gradient finite at the first step but makes the
  updated parameters NaN: the check looks at those too."""

  class NoSaves:
    directory = str(tmp_path)

    def latest_step(self):
      return None

  finite = dict({'train/loss': 1.0, 'train/grad_norm': 1.0})
  with pytest.raises(errors.NonFiniteError, match='param_norm'):
    trainer.check_finite([(3, {**finite, 'train/param_norm': np.nan})],
                         NoSaves())


def test_resumed_run_drops_rows_past_its_checkpoint(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  path.write_text(''.join(json.dumps({'step': s, 'train/loss': 1.0}) + '\n'
                          for s in (2, 4, 6)) + '{"step": 8, "tr')
  logger = metrics_log.MetricsLogger(str(tmp_path), total_steps=10,
                                     is_writer=True, resume_step=4)
  logger.close()
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [2, 4]


# Sweeps: results are never relabelled; failures are not success.


def _sweep_config(lr):
  from test_sweeps import _tiny_config  # pylint: disable=g-import-not-at-top
  config = _tiny_config([{'name': 'a', 'overrides': {}}])
  config.lr.base = lr
  return config


def test_sweep_with_changed_base_config_is_refused(tmp_path):
  rows = runner.run_sweep(_sweep_config(1e-3), str(tmp_path))
  assert rows[0]['status'] == 'ok'
  before = snapshot(tmp_path)
  with pytest.raises(errors.ConfigError, match="point 'a'.*lr.base"):
    runner.run_sweep(_sweep_config(5e-3), str(tmp_path))
  with pytest.raises(errors.ConfigError, match="point 'a'"):
    runner.print_commands(_sweep_config(5e-3), str(tmp_path))
  assert snapshot(tmp_path) == before
  runner.print_commands(_sweep_config(1e-3), str(tmp_path))  # Same: fine.
  assert snapshot(tmp_path) == before


def test_failed_points_fail_the_sweep(tmp_path):
  rows = [{'name': 'a', 'status': 'ok'}, {'name': 'b', 'status': 'failed'}]
  with pytest.raises(errors.SweepFailedError, match='1 of 2'):
    runner.check_all_ok(rows, str(tmp_path))
  assert errors.exit_code(errors.SweepFailedError('x')) == 1


def test_empty_sweep_is_refused(tmp_path):
  with pytest.raises(errors.ConfigError, match='no points'):
    runner.run_sweep(_empty_sweep(), str(tmp_path / 's'))
  assert not (tmp_path / 's').exists()


def _empty_sweep():
  config = _sweep_config(1e-3)
  config.unlock()
  config.sweep = []
  return config


def test_resumable_changes_are_per_field(tmp_path):
  """Threading and evaluations may change in a used workdir (dotted fields);
  a sibling field of the same section (the train ops) may not."""
  config = default.get_config()
  workdir = str(tmp_path)
  workdir_lib.save_record(workdir, config)
  config.input.num_threads = 4
  config.input.prefetch = 1
  config.evals.test.every_steps = 7
  assert workdir_lib.check(workdir, config)
  config.input.train_ops = ('flip_lr',)
  with pytest.raises(errors.ConfigError, match='input.train_ops'):
    workdir_lib.check(workdir, config)


def test_checkpoints_that_are_a_file_are_refused_and_logs_kept(
    data_dir, finished_run, tmp_path):
  """Restarting from step 0 would have dropped the run's metrics rows."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(finished_run, workdir)
  shutil.rmtree(os.path.join(workdir, 'checkpoints'))
  open(os.path.join(workdir, 'checkpoints'), 'w').close()
  before = snapshot(workdir)
  with pytest.raises(errors.ConfigError, match='not a directory'):
    train_and_capture(tiny_config(data_dir, total_steps=6), workdir)
  assert snapshot(workdir) == before


def test_run_refused_by_its_checkpoints_rewrites_no_record(
    data_dir, finished_run, tmp_path):
  """Every checkpoint unreadable: refused, and config.json (a resumable
  change: total_steps 4 -> 6) is not rewritten."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(finished_run, workdir)
  for root, _, names in os.walk(os.path.join(workdir, 'checkpoints')):
    for name in names:
      if os.sep + 'd' + os.sep in os.path.join(root, name):
        open(os.path.join(root, name), 'w').close()  # Truncated.
  before = snapshot(workdir)
  with pytest.raises(errors.ConfigError, match='no checkpoint .* fits'):
    train_and_capture(tiny_config(data_dir, total_steps=6), workdir)
  after = snapshot(workdir)
  after.pop('.lock'), before.pop('.lock')  # Holds the last holder's pid.
  assert after == before


def test_sweep_axis_without_values_is_an_error():
  from vit_jax.sweeps import grid
  with pytest.raises(ValueError, match="'lr.base' has no values"):
    grid.product(('seed', [0, 1]), ('lr.base', []))


# The swallowed KeyboardInterrupt is what this test makes happen.
@pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')
def test_ctrl_c_swallowed_during_start_up_stops_the_run():
  """A KeyboardInterrupt raised inside a callback that swallows it (XLA's
  gc callback did) still stops the run when the trainer takes over."""
  import gc
  import signal
  from vit_jax.runtime import early_interrupt
  from vit_jax.training import preemption
  previous = signal.getsignal(signal.SIGINT)
  early_interrupt.install()
  try:
    class Swallows:
      def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)  # Raised in __del__: ignored.
    Swallows()
    gc.collect()
    assert early_interrupt.happened()
    with pytest.raises(KeyboardInterrupt):
      with preemption.PreemptionWatcher(lambda step: False):
        pass
  finally:
    signal.signal(signal.SIGINT, previous)
    early_interrupt._happened = False  # pylint: disable=protected-access


def test_bad_evaluation_is_refused_before_training(data_dir, tmp_path):
  """An eval split that does not exist (or an unknown option) would only
  fail at the first evaluation, after the steps before it were lost."""
  for overrides, message in (({'evals__test__split': 'validation'},
                              'validation'),):
    with pytest.raises(errors.ConfigError, match=message):
      trainer.prepare_run(tiny_config(data_dir, **overrides), str(tmp_path))
    assert not os.path.exists(os.path.join(tmp_path, 'config.json'))


def test_field_missing_from_an_old_record_counts_as_its_default(tmp_path):
  """A record written before grad_accum_steps existed ran with 1: a run
  with 4 is another config."""
  config = default.get_config()
  workdir = str(tmp_path)
  workdir_lib.save_record(workdir, config)
  path = os.path.join(workdir, 'config.json')
  with open(path) as f:
    record = json.load(f)
  del record['grad_accum_steps']
  with open(path, 'w') as f:
    json.dump(record, f)
  assert workdir_lib.check(workdir, config)  # Same as the default: fine.
  config.grad_accum_steps = 4
  with pytest.raises(errors.ConfigError, match='grad_accum_steps'):
    workdir_lib.check(workdir, config)


def test_sweep_plots_skip_models_without_a_sequence(tmp_path):
  from vit_jax.sweeps import plots
  rows = [{'name': 'a', 'status': 'ok', 'mode': 'train', 'dataset': 'digits',
           'attention': '', 'tokens': None, 'summary_metric': 'test/mse',
           'summary': 0.1},
          {'name': 'b', 'status': 'ok', 'mode': 'benchmark', 'kind': 'train',
           'attention': '', 'tokens': 0, 'step_s_median': 0.1}]
  assert plots.plot_all(rows, str(tmp_path)) == []
