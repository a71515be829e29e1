"""Huge pages for the host's malloc: entry points restart once with them on.

XLA:CPU allocates an executable's temporaries afresh on every call: one
buffer of the memory plan's size (0.6 GiB for the catsdogs Linformer train
step). glibc's malloc serves blocks above 32 MiB with mmap and gives them back
with munmap, so every step faults the same memory in again, 4 KiB at a time,
and the kernel zeroes each page. With `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
(glibc >= 2.35: malloc asks for transparent huge pages on the blocks it maps)
that step, on a 2-core CPU, takes over 100x fewer page faults, a fifth of the
system time and about a third less wall time. Results are unchanged: only the
pages backing the buffers differ.

Huge pages still leave the kernel zeroing every fresh page: for steps whose
plan is GiBs that remains visible (full attention at n = 4,097, plan 1.6 GiB:
a third or more of the step is system time). Keeping the memory mapped
instead (`glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:
glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=17179869184`: no faults
at all) makes that step faster, but the catsdogs step ~13% slower (one arena
shared by all threads), so it is not the default; set it for long sequences.
Measured figures: docs/results.md.

glibc reads GLIBC_TUNABLES once, when the process starts, hence the restart:
`restart_with_huge_pages()` re-executes the program (same process id, same
arguments) with the tunable added, before anything else has run. Children
inherit it, so sweep points and benchmark workers start with it directly. To
opt out, set the tunable yourself, e.g. GLIBC_TUNABLES=glibc.malloc.hugetlb=0.
Outside Linux/glibc this does nothing; where the kernel's transparent huge
pages are off, the restart is harmless.
"""

import os
import platform
import sys

_TUNABLE = 'glibc.malloc.hugetlb'


def _glibc_reads_tunable() -> bool:
  if not sys.platform.startswith('linux'):
    return False
  libc, version = platform.libc_ver()
  try:
    major, minor = (int(part) for part in version.split('.')[:2])
  except ValueError:
    return False
  return libc == 'glibc' and (major, minor) >= (2, 35)


def restart_with_huge_pages() -> None:
  """Re-executes this program with malloc's huge pages on, unless set already.

  Call first thing in a `__main__` block: nothing done before it survives.
  """
  tunables = os.environ.get('GLIBC_TUNABLES', '')
  if _TUNABLE in tunables or not _glibc_reads_tunable():
    return
  env = dict(os.environ)
  env['GLIBC_TUNABLES'] = ':'.join(filter(None, [tunables, f'{_TUNABLE}=1']))
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
