"""Tests of a run's resilience, in-process: the input position restored from
checkpoints, NaN stops, full disks, workdir locks and class-name records.
(SIGTERM and kill -9 run through launch.py: tests/test_launch.py.)"""

import errno
import json
import os

import grain
import jax
import numpy as np
import pytest

from test_training import data_dir  # noqa: F401 (fixture)
from test_training import restore_final_state
from test_training import shared_compilation_cache  # noqa: F401 (fixture)
from test_training import tiny_config
from test_training import train_and_capture
from vit_jax.data import input_pipeline
from vit_jax.training import checkpointing
from vit_jax import errors
from vit_jax.training import train_state
from vit_jax.training import trainer
from vit_jax.training import workdir as workdir_lib


def checkpoint_steps(workdir):
  path = os.path.join(workdir, 'checkpoints')
  return sorted(int(n) for n in os.listdir(path) if n.isdigit())


def save_after_batches(data_dir, workdir, *, batches_read, step):
  """A checkpoint at `step` with the input iterator after `batches_read`.

  Returns:
    (config, run, the iterator that was saved, still open for reading).
  """
  config = tiny_config(data_dir, total_steps=20)
  run = trainer.prepare_run(config, workdir)
  ckpt = checkpointing.Checkpointer(workdir, every_steps=100, max_to_keep=2)
  batches = input_pipeline.train_batches(config)
  state = trainer.restore_or_create_state(run, ckpt, batches)
  for _ in range(batches_read):
    next(batches)
  assert ckpt.save(step, state.replace(step=state.step + step), batches)
  ckpt.close()
  return config, run, batches


def restore_into_fresh_iterator(config, run, workdir):
  """(restored state, a fresh train iterator positioned by the restore)."""
  fresh = input_pipeline.train_batches(config)
  ckpt = checkpointing.Checkpointer(workdir, every_steps=100, max_to_keep=2)
  try:
    return trainer.restore_or_create_state(run, ckpt, fresh), fresh
  finally:
    ckpt.close()


def test_checkpoint_restores_input_position_mid_epoch(data_dir, tmp_path):
  """Saving at step 7 (epoch 0 of ~90 steps) and restoring into a fresh
  iterator continues with the batches the first iterator would yield."""
  workdir = str(tmp_path / 'run')
  config, run, batches = save_after_batches(data_dir, workdir,
                                            batches_read=7, step=7)
  expected = [next(batches) for _ in range(3)]
  restored, fresh = restore_into_fresh_iterator(config, run, workdir)
  assert int(restored.step) == 7
  assert fresh.get_state()['next_index'] == 7
  for want in expected:
    got = next(fresh)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key])


def test_input_position_differing_from_step_is_refused(data_dir, tmp_path):
  workdir = str(tmp_path / 'run')
  # Position 1, but the state says step 3.
  config, run, _ = save_after_batches(data_dir, workdir, batches_read=1,
                                      step=3)
  with pytest.raises(errors.ConfigError, match='input position 1'):
    restore_into_fresh_iterator(config, run, workdir)


class _PoisonedBatches(grain.DatasetIterator):
  """The real train batches, with NaN images from step `nan_step` on."""

  def __init__(self, batches, nan_step):
    super().__init__(batches)
    self._batches, self._nan_step = batches, nan_step

  def __next__(self):
    batch = next(self._batches)
    if self._batches.get_state()['next_index'] >= self._nan_step:
      batch = dict(batch, image=np.full_like(batch['image'], np.nan))
    return batch

  def get_state(self):
    return self._batches.get_state()

  def set_state(self, state):
    self._batches.set_state(state)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    data_dir, tmp_path, monkeypatch):
  config = tiny_config(data_dir, total_steps=20, checkpoint_every_steps=5,
                       log_every_steps=100)
  real = input_pipeline.train_batches
  monkeypatch.setattr(input_pipeline, 'train_batches',
                      lambda *a, **k: _PoisonedBatches(real(*a, **k), 8))
  workdir = str(tmp_path / 'run')
  with pytest.raises(errors.NonFiniteError,
                     match=r'non-finite loss.* at step 8;.*step 5'):
    train_and_capture(config, workdir)
  assert checkpoint_steps(workdir) == [5]  # Nothing of steps 8..10 saved.
  state = restore_final_state(config, workdir, tmp_path / 'scratch')
  assert int(state.step) == 5
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))


def test_disk_too_full_for_a_checkpoint_is_one_clear_error(
    data_dir, tmp_path, monkeypatch):
  """The save is refused before writing; the earlier checkpoint stays."""
  config = tiny_config(data_dir, total_steps=20, checkpoint_every_steps=5)
  workdir = str(tmp_path / 'run')
  real_usage = checkpointing.shutil.disk_usage
  calls = []

  def usage(path):  # Plenty of space for the first save only.
    calls.append(path)
    free = real_usage(path).free if len(calls) == 1 else 1000
    return real_usage(path)._replace(free=free)

  monkeypatch.setattr(checkpointing.shutil, 'disk_usage', usage)
  with pytest.raises(errors.CheckpointWriteError) as error:
    train_and_capture(config, workdir)
  message = str(error.value)
  assert 'of step 10' in message and 'No space left on device' in message
  assert 'latest complete: step 5' in message and '\n' not in message
  assert checkpoint_steps(workdir) == [5]
  assert int(restore_final_state(config, workdir, tmp_path / 's').step) == 5


def test_failed_checkpoint_write_is_one_clear_error(data_dir, tmp_path,
                                                    monkeypatch):
  """An OSError from orbax itself (e.g. ENOSPC mid-write) is reported too."""
  config = tiny_config(data_dir, total_steps=20, checkpoint_every_steps=5)
  workdir = str(tmp_path / 'run')
  real_save = checkpointing.ocp.CheckpointManager.save

  def save(self, step, *args, **kwargs):
    if step == 15:
      raise OSError(errno.ENOSPC, 'No space left on device')
    return real_save(self, step, *args, **kwargs)

  monkeypatch.setattr(checkpointing.ocp.CheckpointManager, 'save', save)
  with pytest.raises(errors.CheckpointWriteError,
                     match='of step 15.*latest complete: step 10'):
    train_and_capture(config, workdir)
  assert checkpoint_steps(workdir)[-1] == 10


def test_second_run_in_a_busy_workdir_is_refused(data_dir, tmp_path):
  config = tiny_config(data_dir)
  workdir = str(tmp_path / 'run')
  os.makedirs(workdir)
  with workdir_lib.exclusive(workdir, is_writer=True):
    with pytest.raises(errors.ConfigError, match='in use by another'):
      trainer.train_and_evaluate(config, workdir)
  assert not os.path.exists(os.path.join(workdir, 'checkpoints'))
  train_and_capture(config, workdir)  # Free again once released.
  assert checkpoint_steps(workdir)[-1] == 4


def test_class_names_saved_and_changes_refused(data_dir, tmp_path):
  config = tiny_config(data_dir)
  workdir = str(tmp_path / 'run')
  trainer.prepare_run(config, workdir)
  with open(os.path.join(workdir, 'class_names.json')) as f:
    assert json.load(f) == input_pipeline.class_names(config)
  with pytest.raises(errors.ConfigError, match='classes changed'):
    workdir_lib.save_class_names(workdir, ['cat', 'dog'])
