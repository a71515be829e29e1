"""config.cpu_device_per_core: one single-threaded XLA:CPU device per core,
set only where it cannot override the user's choices, with a device count
that divides every batch the run shards."""

import os
import subprocess
import sys

import ml_collections
import pytest

from vit_jax.runtime import host_devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  fields = dict(cpu_device_per_core=True, batch_size=64, eval_batch_size=64,
                predict_batch_size=8, grad_accum_steps=1, mesh=(('data', -1),),
      mode='train')
  return ml_collections.ConfigDict({**fields, **overrides})


@pytest.mark.parametrize('cores,overrides,expected', [
    (2, {}, 2),
    (6, {}, 4),  # 6 divides no batch; 4 divides them all.
    (8, {'eval_batch_size': 6}, 2),
    (8, {'mode': 'predict', 'predict_batch_size': 1}, 1),
    (8, {'mode': 'benchmark', 'eval_batch_size': 3}, 8),
    (8, {'grad_accum_steps': 8}, 8),  # 64 / 8 micro-batches: 1 row each.
    (8, {'grad_accum_steps': 16}, 4),
    (3, {'batch_size': 9, 'eval_batch_size': 9}, 3),
    (4, {'batch_size': 7}, 1),
])
def test_device_count_divides_every_sharded_batch(cores, overrides, expected):
  assert host_devices.device_count_for(_config(**overrides), cores) == expected


def test_sets_flags_only_where_the_user_did_not(monkeypatch):
  monkeypatch.setattr(host_devices, 'usable_cores', lambda: 2)
  monkeypatch.delenv('JAX_PLATFORMS', raising=False)
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_enable_fast_math=false')
  assert host_devices.use_one_device_per_core(
      _config(), distributed=False) == 2
  assert os.environ['XLA_FLAGS'].split() == [
      '--xla_cpu_enable_fast_math=false',
      '--xla_force_host_platform_device_count=2',
      '--xla_cpu_multi_thread_eigen=false']
  for env, config, distributed in (
      ({'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}, _config(),
       False),  # The user's (a test's) count.
      ({'XLA_FLAGS': '', 'JAX_PLATFORMS': 'cuda'}, _config(), False),
      ({'XLA_FLAGS': ''}, _config(mesh=(('data', 2), ('fsdp', -1))), False),
      ({'XLA_FLAGS': ''}, _config(cpu_device_per_core=False), False),
      ({'XLA_FLAGS': ''}, _config(), True),  # Processes: not here.
      ({'XLA_FLAGS': ''}, _config(batch_size='x'), False),  # Validation's.
  ):
    for key, value in env.items():
      monkeypatch.setenv(key, value)
    before = os.environ['XLA_FLAGS']
    assert host_devices.use_one_device_per_core(
        config, distributed=distributed) is None
    assert os.environ['XLA_FLAGS'] == before
    monkeypatch.delenv('JAX_PLATFORMS', raising=False)


def test_a_benchmark_runs_on_one_device_per_core():
  """Through the entry point, with XLA_FLAGS free of a device count."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='')
  code = ('import os, sys; sys.argv = ["x", "--config=configs/default.py:full"]'
          '\nfrom absl import flags\nfrom ml_collections import config_flags'
          '\nc = config_flags.DEFINE_config_file("config")'
          '\nflags.FLAGS(sys.argv)'
          '\nfrom vit_jax.runtime import host_devices'
          '\nn = host_devices.use_one_device_per_core(c.value, distributed=False)'
          '\nimport jax; print(n, jax.device_count())')
  out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  n, devices = out.stdout.split()
  # The digits config's batches (128, ...) divide any core count up to 8.
  expected = min(host_devices.usable_cores(), 8)
  assert int(devices) == expected
  assert n == ('None' if expected == 1 else str(expected))
