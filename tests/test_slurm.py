"""Multi-process training and sweeps on a real Slurm cluster (the one-node
cluster of experiments/slurm/local_cluster.sh): `srun -n 2` runs one training
job as two processes that find each other from Slurm's environment, and a
sweep fans out as a job array (experiments/slurm/sweep_array.sh) whose
results the local launch.py call collects.

Skipped unless a cluster answers (`sinfo` with $SLURM_CONF set). This file is
also the sweep's config file.
"""

import csv
import os
import shutil
import subprocess

import pytest

from configs import default
from vit_jax.sweeps import grid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300
TINY = dict(image_size=8, batch_size=16, eval_batch_size=64, total_steps=4,
            log_every_steps=2, checkpoint_every_steps=2,
            eval_every_steps=1000)


def _cluster_up() -> bool:
  if not shutil.which('sinfo') or not os.environ.get('SLURM_CONF'):
    return False
  return subprocess.run(['sinfo', '-h'], capture_output=True,
                        timeout=30).returncode == 0


pytestmark = [
    pytest.mark.slow, pytest.mark.slurm,
    pytest.mark.skipif(not _cluster_up(), reason=(
        'no Slurm cluster: run experiments/slurm/local_cluster.sh start and '
        'export SLURM_CONF'))]


def get_config(arg=None):
  """A tiny digits config; with arg 'sweep', two seeds as a sweep."""
  config = default.get_config('full')
  config.update_from_flattened_dict({
      **TINY, 'model.hidden_size': 16, 'model.transformer.num_layers': 1,
      'model.transformer.num_heads': 2, 'model.transformer.mlp_dim': 16})
  if arg == 'sweep':
    config.sweep = grid.product(('seed', [0, 1]))
  return config


def _env(**extra):
  # One CPU device per process (not the suite's 8 fake ones).
  return dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='', **extra)


def _flags(data_dir):
  return [f'--config={os.path.abspath(__file__)}',
          f'--config.data_dir={data_dir}']


def test_srun_two_tasks_are_one_training_job(tmp_path):
  from vit_jax.data import digits
  data_dir = str(tmp_path / 'data')
  digits.load_builder(data_dir)
  workdir = tmp_path / 'run'
  proc = subprocess.run(
      ['srun', '-n', '2', '.venv/bin/python', 'launch.py', *_flags(data_dir),
       f'--workdir={workdir}', '--jax_distributed'],  # No --processes.
      cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S,
      env=_env())
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count('final test accuracy') == 1  # Process 0 only.
  assert '2 device(s)' in proc.stdout
  assert sorted(os.listdir(workdir / 'checkpoints' / '4' / 'data'))[-2:] == [
      'process_0-of-2.json', 'process_1-of-2.json']


def test_sweep_as_a_job_array(tmp_path):
  from vit_jax.data import digits
  data_dir = str(tmp_path / 'data')
  digits.load_builder(data_dir)
  sweep = str(tmp_path / 'sweep')
  config = f'{os.path.abspath(__file__)}:sweep'
  env = _env(TFDS_DATA_DIR=data_dir)  # The jobs inherit it (--export=ALL).
  submitted = subprocess.run(
      ['experiments/slurm/sweep_array.sh', config, sweep, '--wait',
       '--export=ALL'],
      cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
  assert submitted.returncode == 0, submitted.stderr[-3000:]
  assert 'Submitted batch job' in submitted.stdout
  with open(os.path.join(sweep, 'commands.txt')) as f:
    assert len(f.readlines()) == 2
  collected = subprocess.run(
      ['.venv/bin/python', 'launch.py', f'--config={config}',
       f'--workdir={sweep}'],
      cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
  assert collected.returncode == 0, collected.stderr[-3000:]
  with open(os.path.join(sweep, 'results.csv')) as f:
    rows = list(csv.DictReader(f))
  assert sorted(r['name'] for r in rows) == ['0', '1']
  assert {r['status'] for r in rows} == {'ok'}
  assert all(0 <= float(r['summary']) <= 1 for r in rows)
