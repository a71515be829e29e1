"""Two local processes (`--jax_distributed --processes=...`, gloo CPU
collectives, 4 fake devices each): a SIGTERM to one host stops both at the
same step with one checkpoint, and both resume from it."""

import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from test_launch import ROOT
from test_launch import TINY
from test_launch import TIMEOUT_S
from vit_jax.data import digits

# Two processes, a coordinator and a preemption sync: `make test-slow`.
pytestmark = pytest.mark.slow


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def start_hosts(tmp_path, name, data_dir, *extra):
  port = free_port()
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS=('--xla_force_host_platform_device_count=4 '
                        '--xla_backend_optimization_level=0'),
             # The second pair reuses the first one's executables (speed).
             JAX_COMPILATION_CACHE_DIR=str(tmp_path / 'jax_cache'),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  processes = []
  for index in range(2):
    log = open(tmp_path / f'{name}{index}.log', 'w')
    processes.append(subprocess.Popen(
        [sys.executable, 'launch.py', *TINY, f'--config.data_dir={data_dir}',
         f'--workdir={tmp_path / "run"}', '--jax_distributed',
         f'--processes=127.0.0.1:{port},2,{index}', *extra],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
  return processes


def wait_all(processes):
  """Exit codes; a host left hanging by a dead peer is killed."""
  deadline = time.time() + TIMEOUT_S
  codes = []
  for process in processes:
    try:
      codes.append(process.wait(timeout=max(1, deadline - time.time())))
    except subprocess.TimeoutExpired:
      for p in processes:
        p.kill()
      raise
  return codes


def read(path):
  with open(path) as f:
    return f.read()


def test_sigterm_on_one_host_stops_both_at_one_step(tmp_path):
  data_dir = str(tmp_path / 'data')
  digits.load_builder(data_dir)
  hosts = start_hosts(tmp_path, 'first', data_dir,
                      '--config.total_steps=100000000',
                      '--config.checkpoint_every_steps=100000000')
  deadline = time.time() + TIMEOUT_S
  while 'first step' not in read(tmp_path / 'first0.log'):
    assert time.time() < deadline and hosts[0].poll() is None, read(
        tmp_path / 'first0.log')
    time.sleep(0.1)
  time.sleep(1)  # A few steps in.
  hosts[1].send_signal(signal.SIGTERM)  # Only host 1 is preempted.
  assert wait_all(hosts) == [0, 0]
  steps = []
  for index in range(2):
    line = [l for l in read(tmp_path / f'first{index}.log').splitlines()
            if l.startswith('SIGTERM received')]
    assert len(line) == 1
    steps.append(int(line[0].split('at step ')[1].split()[0]))
  assert steps[0] == steps[1] > 1
  step = steps[0]
  data_files = sorted(os.listdir(tmp_path / 'run' / 'checkpoints' / str(step)
                                 / 'data'))
  assert data_files[-2:] == ['process_0-of-2.json', 'process_1-of-2.json']

  hosts = start_hosts(tmp_path, 'second', data_dir,
                      f'--config.total_steps={step + 3}',
                      '--config.checkpoint_every_steps=100000000')
  assert wait_all(hosts) == [0, 0], read(tmp_path / 'second0.log')
  output = read(tmp_path / 'second0.log')
  assert f'resumed from step {step}' in output
  assert f'at step {step + 3}' in output


def test_two_processes_match_one_process_of_as_many_devices(tmp_path):
  """2 processes x 2 devices (jax.distributed, gloo) train as 1 process x 4
  devices does: same final parameters (to rounding) and test metrics; only
  process 0 writes the logs and the record; both write the checkpoint."""
  data_dir = str(tmp_path / 'data')
  digits.load_builder(data_dir)
  common = [*TINY, f'--config.data_dir={data_dir}', '--config.total_steps=6',
            '--config.checkpoint_every_steps=3',
            '--config.model.transformer.dropout_rate=0.0']

  def env(devices):
    return dict(os.environ, JAX_PLATFORMS='cpu',
                XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')

  port = free_port()
  hosts = [subprocess.Popen(
      [sys.executable, 'launch.py', *common, f'--workdir={tmp_path / "two"}',
       '--jax_distributed', f'--processes=127.0.0.1:{port},2,{index}'],
      cwd=ROOT, env=env(2), stdout=open(tmp_path / f'two{index}.log', 'w'),
      stderr=subprocess.STDOUT) for index in range(2)]
  single = subprocess.Popen(
      [sys.executable, 'launch.py', *common, f'--workdir={tmp_path / "one"}'],
      cwd=ROOT, env=env(4), stdout=open(tmp_path / 'one.log', 'w'),
      stderr=subprocess.STDOUT)
  assert wait_all(hosts + [single]) == [0, 0, 0], read(tmp_path / 'two0.log')

  from vit_jax.training import metrics_log
  from vit_jax.training import trainer
  _, two = trainer.load_state(str(tmp_path / 'two'))
  _, one = trainer.load_state(str(tmp_path / 'one'))
  assert int(two.step) == int(one.step) == 6
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(two.params),
                          jax.tree.leaves(one.params)):
    noise_only = "['key']['bias']" in jax.tree_util.keystr(path)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5,
                               atol=6e-3 if noise_only else 3e-5,  # lr 3e-3.
                               err_msg=jax.tree_util.keystr(path))
  rows = {name: [r for r in metrics_log.read_metrics(str(tmp_path / name))
                 if 'test/accuracy' in r] for name in ('two', 'one')}
  assert [r['step'] for r in rows['two']] == [6]  # Written once, by process 0.
  assert rows['two'][-1]['test/accuracy'] == pytest.approx(
      rows['one'][-1]['test/accuracy'], abs=1 / 360 + 1e-9)
  assert rows['two'][-1]['test/count'] == 360
  assert 'final test accuracy' in read(tmp_path / 'two0.log')
  assert 'final test accuracy' not in read(tmp_path / 'two1.log')
  data_files = sorted(os.listdir(tmp_path / 'two' / 'checkpoints' / '6'
                                 / 'data'))
  assert data_files[-2:] == ['process_0-of-2.json', 'process_1-of-2.json']
