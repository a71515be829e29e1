"""Weights and the trainer: a fresh run with config.init_from starts from the
adapted weights (any resolution, full -> Linformer), a resumed run keeps its
own checkpoint, and the export command round-trips a run's parameters.
CPU, offline, 8 fake devices (tests/conftest.py)."""

import contextlib
import io
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import default
from vit_jax.errors import ConfigError
from vit_jax.training import checkpointing
from vit_jax.training import trainer
from vit_jax.weights import export
from vit_jax.weights import initial_state
from vit_jax.weights import vt_npz

from test_training import data_dir  # noqa: F401 (fixture)
from test_training import shared_compilation_cache  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def small_config(data_dir, arg='full', **overrides):
  """configs/default.py shrunk to seconds: dim 16, one block, 8 steps."""
  config = default.get_config(arg)
  config.lock()
  config.update_from_flattened_dict({
      'image_size': 8, 'model.patch_size': 4, 'model.hidden_size': 16,
      'model.transformer.num_layers': 1, 'model.transformer.num_heads': 2,
      'model.transformer.mlp_dim': 16, 'batch_size': 16,
      'eval_batch_size': 64, 'total_epochs': None, 'total_steps': 8,
      'lr.warmup_steps': 0, 'log_every_steps': 4, 'eval_every_steps': 1000,
      'checkpoint_every_steps': 4, 'data_dir': data_dir})
  config.update_from_flattened_dict(
      {k.replace('__', '.'): v for k, v in overrides.items()})
  return config


def quietly(fn, *args):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = fn(*args)
  return result, out.getvalue()


@pytest.fixture(scope='module')
def trained(data_dir, tmp_path_factory):
  """A finished 8-step run at 8x8 (2x2 patches + cls)."""
  workdir = str(tmp_path_factory.mktemp('source'))
  quietly(trainer.train_and_evaluate, small_config(data_dir), workdir)
  return workdir


def forward(run, params, images):
  return np.asarray(run.model.apply({'params': params}, images, train=False))


def test_export_load_gives_identical_logits(trained, data_dir, tmp_path):
  out = str(tmp_path / 'run.npz')
  line = export.export(trained, out)
  assert line.startswith('exported step 8 of ') and out in line
  _, state = trainer.load_state(trained)
  config = small_config(data_dir, init_from=out)
  run, _ = trainer.build_run(config, str(tmp_path / 'new'))
  params, _ = quietly(initial_state.adapted_params, run)
  x = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32)
  delta = np.abs(forward(run, params, x) - forward(run, jax.device_get(
      state.params), x)).max()
  assert delta == 0.0


def test_export_cli_writes_npz_and_refuses_a_missing_run(trained, tmp_path):
  out = str(tmp_path / 'cli.npz')
  proc = subprocess.run(
      [sys.executable, '-m', 'vit_jax.weights.export', f'--workdir={trained}',
       f'--out={out}'], capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert 'exported step 8' in proc.stdout
  with np.load(out, allow_pickle=False) as npz:
    assert 'Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel' in npz.files
  proc = subprocess.run(
      [sys.executable, '-m', 'vit_jax.weights.export',
       f'--workdir={tmp_path}/none', f'--out={out}'],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: weights from run ')


def test_fresh_run_starts_from_init_from_at_new_resolution(trained, data_dir,
                                                           tmp_path):
  """init_from = a workdir: 8x8 -> 16x16 (5 -> 17 tokens), head kept."""
  _, source = trainer.load_state(trained)
  config = small_config(data_dir, image_size=16, init_from=trained,
                        total_steps=4)
  probe = str(tmp_path / 'probe')
  run, _ = trainer.build_run(config, probe)
  ckpt = checkpointing.Checkpointer(probe, every_steps=4, max_to_keep=2)
  try:
    state, printed = quietly(trainer.restore_or_create_state, run, ckpt)
  finally:
    ckpt.close()
  assert 'pos_embedding resized from (1, 5, 16) to (1, 17, 16)' in printed
  assert int(state.step) == 0
  got, want = jax.device_get(state.params), jax.device_get(source.params)
  np.testing.assert_array_equal(got['head']['kernel'], want['head']['kernel'])
  np.testing.assert_array_equal(got['embedding']['kernel'],
                                want['embedding']['kernel'])
  assert got['Transformer']['posembed_input']['pos_embedding'].shape == (
      1, 17, 16)
  # Trained to the end through the one trainer; a resume reads its own
  # checkpoint and never loads init_from again.
  workdir = str(tmp_path / 'finetune')
  _, printed = quietly(trainer.train_and_evaluate, config, workdir)
  assert f'init_from {trained} (step 8)' in printed
  os.rename(os.path.join(trained, 'checkpoints'),
            os.path.join(trained, 'checkpoints_moved'))
  try:
    more = small_config(data_dir, image_size=16, init_from=trained,
                        total_steps=6)
    final, printed = quietly(trainer.train_and_evaluate, more, workdir)
  finally:
    os.rename(os.path.join(trained, 'checkpoints_moved'),
              os.path.join(trained, 'checkpoints'))
  assert 'resumed from step 4' in printed and 'init_from' not in printed
  assert np.isfinite(final['test/loss'])


def test_full_run_into_linformer(trained, data_dir, tmp_path):
  config = small_config(data_dir, 'linformer', init_from=trained,
                        model__attention__k=2)
  run, _ = trainer.build_run(config, str(tmp_path / 'lin'))
  params, printed = quietly(initial_state.adapted_params, run)
  _, source = trainer.load_state(trained)
  flat, full = vt_npz.flatten(params), vt_npz.flatten(jax.device_get(
      source.params))
  assert sorted(set(flat) - set(full)) == [
      'Transformer/encoderblock_0/MultiHeadDotProductAttention_1/'
      'key_projection/kernel',
      'Transformer/encoderblock_0/MultiHeadDotProductAttention_1/'
      'value_projection/kernel']
  for key, value in full.items():
    np.testing.assert_array_equal(flat[key], value)
  assert '2 array(s) freshly initialised' in printed


def test_init_from_errors_are_one_line(trained, data_dir, tmp_path):
  config = small_config(data_dir, init_from=str(tmp_path / 'nope.npz'))
  run, _ = trainer.build_run(config, str(tmp_path / 'x'))
  with pytest.raises(ConfigError, match='no such file or run directory'):
    initial_state.adapted_params(run)
  # Through the trainer: refused before anything is written.
  workdir = str(tmp_path / 'refused')
  with pytest.raises(ConfigError, match='no such file or run directory'):
    trainer.train_and_evaluate(config, workdir)
  assert not os.path.exists(workdir)
  wide = small_config(data_dir, init_from=trained, model__hidden_size=32)
  run, _ = trainer.build_run(wide, str(tmp_path / 'y'))
  with pytest.raises(ConfigError) as e:
    initial_state.adapted_params(run)
  assert str(e.value).startswith(f'init_from {trained}: ')
  assert 'found shape' in str(e.value) and 'expected' in str(e.value)
  assert '\n' not in str(e.value)
