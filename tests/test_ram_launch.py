"""A tiny RAM config trains and resumes bit-identically through launch.py,
and the glimpse-path script draws from its checkpoint."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 240
# configs/ram.py made tiny: 2 glimpses, small layers, a few steps.
TINY = ('--config.model.num_glimpses=2', '--config.model.hidden_size=16',
        '--config.model.glimpse_features=8', '--config.batch_size=16',
        '--config.log_every_steps=2', '--config.eval_every_steps=4',
        '--config.checkpoint_every_steps=2', '--config.lr.decay=constant',
        '--config.lr.warmup_steps=0')


def _run(args, data_dir):
  env = dict(os.environ, JAX_PLATFORMS='cpu', TFDS_DATA_DIR=data_dir,
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=TIMEOUT_S)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout + proc.stderr


def _launch(workdir, data_dir, *flags):
  return _run(['launch.py', '--config=configs/ram.py:cluttered',
               f'--config.data_dir={data_dir}', f'--workdir={workdir}',
               *TINY, *flags], data_dir)


@pytest.mark.slow  # Three launch.py runs and a figure (~45 s); `make test-slow`.
def test_ram_trains_resumes_and_draws(tmp_path):
  from vit_jax.training import trainer
  data_dir = str(tmp_path / 'tfds')
  whole, split = str(tmp_path / 'whole'), str(tmp_path / 'split')
  out = _launch(whole, data_dir, '--config.total_steps=8')
  assert 'final test accuracy' in out, out[-2000:]
  _launch(split, data_dir, '--config.total_steps=4')
  out = _launch(split, data_dir, '--config.total_steps=8')
  assert 'resumed from step 4' in out, out[-2000:]

  config, state_whole = trainer.load_state(whole)
  _, state_split = trainer.load_state(split)
  assert config.model.name == 'ram' and int(state_whole.step) == 8
  jax.tree.map(np.testing.assert_array_equal,
               jax.device_get(state_whole), jax.device_get(state_split))
  with open(os.path.join(whole, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  train = [r for r in rows if 'train/reinforce' in r]
  assert train and all(np.isfinite(r['train/loss']) for r in train)
  assert all('train/baseline_mse' in r for r in train)
  assert [r['test/count'] for r in rows if 'test/count' in r] == [1080] * 2

  figures = tmp_path / 'figures'
  out = _run(['experiments/glimpse_paths.py', f'--workdir={whole}',
              f'--out={figures}', '--count=2'], data_dir)
  assert (figures / 'glimpse_paths_translated_digits_cluttered.png').stat(
  ).st_size > 1000, out
