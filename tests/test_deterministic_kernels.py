"""The XLA flags that launch.py and sweep points set for deterministic runs."""

import os

from vit_jax.runtime import deterministic_kernels


def test_adds_the_flags_and_keeps_the_users(monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8 '
                     '--xla_cpu_multi_thread_eigen=true')
  deterministic_kernels.use_deterministic_kernels()
  flags = os.environ['XLA_FLAGS'].split()
  assert flags == ['--xla_force_host_platform_device_count=8',
                   '--xla_cpu_multi_thread_eigen=true',  # The user's choice.
                   '--xla_gpu_deterministic_ops=true']


def test_sets_them_on_an_empty_environment(monkeypatch):
  monkeypatch.delenv('XLA_FLAGS', raising=False)
  deterministic_kernels.use_deterministic_kernels()
  assert os.environ['XLA_FLAGS'].split() == list(deterministic_kernels.FLAGS)
