"""The seq2seq model and task trained by the one trainer through launch.py:
resume is bit-exact; on a model that has learned (short) reversal, greedy
decoding agrees with teacher forcing and the alignments are anti-diagonal.

This file is also the config file (`get_config`): configs/reversal.py's
recipe, smaller, on a reversal dataset of lengths 3-8 prepared here.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import reversal as reversal_config
from vit_jax.data import reversal
from vit_jax.data.reversal import reversal_dataset_builder
from vit_jax.models import seq2seq_alignments
from vit_jax.visualization import trained_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300
SMALL_SPLITS = {'train': (8_000, (3, 8), 0), 'test': (200, (3, 8), 1)}


def get_config(arg=None):
  """configs/reversal.py (additive attention), small and short."""
  config = reversal_config.get_config(arg or 'additive,dim=32,steps=400')
  config.batch_size = 64
  config.eval_batch_size = 200
  config.lr.base = 1e-2
  config.lr.warmup_steps = 50
  config.log_every_steps = 50
  config.eval_every_steps = 10**6  # At the end only.
  config.checkpoint_every_steps = 100
  config.evals = dict(test=dict(kind='task_metrics', split='test',
                                every_steps=None))
  return config


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('tfds_reversal_small'))
  old = reversal_dataset_builder.SPLITS
  reversal_dataset_builder.SPLITS = SMALL_SPLITS  # Read when preparing.
  try:
    reversal.load_builder(path)
  finally:
    reversal_dataset_builder.SPLITS = old
  return path


def _launch(workdir, data_dir, *flags):
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  proc = subprocess.run(
      [sys.executable, 'launch.py', f'--config={os.path.abspath(__file__)}',
       f'--config.data_dir={data_dir}', f'--workdir={workdir}', *flags],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('reversal_run'))
  out = _launch(workdir, data_dir)
  assert 'final test exact_match' in out, out[-2000:]
  return workdir


@pytest.mark.slow  # Three launch.py runs (~45 s); `make test-slow`.
def test_resume_is_bit_exact(data_dir, tmp_path):
  from vit_jax.training import trainer
  import jax
  whole, split = str(tmp_path / 'whole'), str(tmp_path / 'split')
  flags = ('--config.total_steps=8', '--config.checkpoint_every_steps=2',
           '--config.lr.decay=constant')
  _launch(whole, data_dir, *flags)
  _launch(split, data_dir, *flags[:1], '--config.total_steps=4', *flags[1:])
  out = _launch(split, data_dir, *flags)
  assert 'resumed from step 4' in out, out[-2000:]
  _, state_whole = trainer.load_state(whole)
  _, state_split = trainer.load_state(split)
  assert int(state_whole.step) == 8
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state_whole),
               jax.device_get(state_split))


def test_learned_model_greedy_agrees_and_aligns_antidiagonally(trained):
  run = trained_run.load(trained)
  rows = [json.loads(line) for line in open(os.path.join(trained,
                                                         'metrics.jsonl'))]
  final = [r for r in rows if 'test/exact_match' in r][-1]
  assert final['test/exact_match'] >= 0.95, final
  batch = trained_run.test_batch(run, 200)
  greedy = np.asarray(run.task.predict(run.model, run.params, batch))
  forced, weights = seq2seq_alignments.alignments(run.model, run.params,
                                                  batch)
  real = np.arange(batch['target'].shape[1])[None] < batch['target_length'][
      :, None]
  # Greedy decoding and teacher forcing agree on the real tokens.
  assert np.mean((greedy == forced)[real]) >= 0.99
  exact = np.all((greedy == batch['target']) | ~real, -1).mean()
  assert exact == pytest.approx(final['test/exact_match'])
  # Output step i attends most to input position n - 1 - i.
  assert weights.shape == batch['target'].shape + batch['source'].shape[1:]
  fraction = seq2seq_alignments.mirrored_fraction(weights,
                                                  batch['source_length'])
  assert fraction >= 0.95, fraction
  # Padded source positions get no weight.
  pad = np.arange(batch['source'].shape[1])[None] >= batch['source_length'][
      :, None]
  assert np.all(weights.transpose(1, 0, 2)[:, pad] == 0)


def test_greedy_equals_teacher_forcing_on_its_own_outputs(trained):
  """Fed its own greedy outputs as the 'true' prefix, teacher forcing must
  reproduce them exactly: the two decoding paths compute the same steps."""
  run = trained_run.load(trained)
  batch = trained_run.test_batch(run, 64)
  greedy = np.asarray(run.task.predict(run.model, run.params, batch))
  own = dict(batch, target=greedy)
  forced, _ = seq2seq_alignments.alignments(run.model, run.params, own)
  np.testing.assert_array_equal(forced, greedy)
  # And the greedy path's alignments are the teacher-forced ones.
  _, greedy_weights = seq2seq_alignments.alignments(run.model, run.params,
                                                    own, greedy=True)
  _, forced_weights = seq2seq_alignments.alignments(run.model, run.params,
                                                    own)
  np.testing.assert_allclose(greedy_weights, forced_weights, atol=1e-5)
