"""The machine description benchmark lines carry (vit_jax/runtime/cpu_info)."""

import os

from vit_jax.runtime import cpu_info


def test_describe_names_model_cores_isa_and_xla_cap(monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
  line = cpu_info.describe()
  assert line.startswith(cpu_info.model_name())
  assert f'{os.cpu_count()} cores' in line and cpu_info.isa() in line
  assert 'capped' not in line
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_max_isa=AVX2 --foo=1')
  assert cpu_info.xla_isa_cap() == 'AVX2'
  assert cpu_info.describe().endswith('(XLA capped at AVX2)')


def test_isa_reads_the_best_level_from_cpuinfo(monkeypatch):
  flags = {'model name': 'X', 'flags': 'sse4_2 avx avx2 fma'}
  monkeypatch.setattr(cpu_info, '_cpuinfo', lambda: flags)
  assert cpu_info.isa() == 'AVX2'
  flags['flags'] += ' avx512f avx512bw'
  assert cpu_info.isa() == 'AVX-512'
