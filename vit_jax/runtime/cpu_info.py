"""The host CPU's model and the vector ISA XLA may use on it, for the record.

Speed figures differ several-fold between machines (AVX-512 vs AVX2-only
x86, ARM), so every benchmark line and peer comparison states where it ran.
`XLA_FLAGS=--xla_cpu_max_isa=AVX2` caps XLA's ISA (to emulate a smaller
machine); the cap is reported too.
"""

import os
import platform
import re

# x86 ISA levels XLA distinguishes, best first: (name, /proc/cpuinfo flag).
_X86_LEVELS = (('AVX-512', 'avx512f'), ('AVX2', 'avx2'), ('AVX', 'avx'),
               ('SSE4.2', 'sse4_2'))


def _cpuinfo() -> dict[str, str]:
  """The first processor's fields of /proc/cpuinfo ({} where absent)."""
  fields = {}
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if not line.strip():
          break  # End of the first processor's block.
        key, _, value = line.partition(':')
        fields[key.strip()] = value.strip()
  except OSError:
    pass
  return fields


def model_name() -> str:
  """'AMD EPYC 7B13', ... (the machine type where the model is unknown)."""
  info = _cpuinfo()
  return (info.get('model name') or info.get('Model')
          or platform.processor() or platform.machine())


def isa() -> str:
  """The best vector ISA the CPU has ('AVX-512', 'AVX2', ... or the machine
  type off x86)."""
  flags = set(_cpuinfo().get('flags', '').split())
  for name, flag in _X86_LEVELS:
    if flag in flags:
      return name
  return platform.machine()


def xla_isa_cap() -> str | None:
  """The --xla_cpu_max_isa=... in XLA_FLAGS, if any."""
  match = re.search(r'--xla_cpu_max_isa=(\S+)', os.environ.get('XLA_FLAGS', ''))
  return match.group(1) if match else None


def describe() -> str:
  """One line: 'AMD EPYC 7B13, 2 cores, AVX-512 (XLA capped at AVX2)'."""
  line = f'{model_name()}, {os.cpu_count()} cores, {isa()}'
  cap = xla_isa_cap()
  return line + (f' (XLA capped at {cap})' if cap else '')
