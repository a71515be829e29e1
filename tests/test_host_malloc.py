"""The restart that turns on huge pages for malloc (vit_jax/runtime/host_malloc.py)."""

import json
import os
import subprocess
import sys

import pytest

from vit_jax.runtime import host_malloc


# Prints what the program sees after the restart, with the pid before it.
_PROGRAM = f"""
import json, os, sys
pid = os.environ.get('PID_BEFORE') or str(os.getpid())
os.environ['PID_BEFORE'] = pid
from vit_jax.runtime import host_malloc
host_malloc.restart_with_huge_pages()
print(json.dumps(dict(pid_before=int(pid), pid=os.getpid(), argv=sys.argv[1:],
                      tunables=os.environ.get('GLIBC_TUNABLES'))))
"""

needs_glibc = pytest.mark.skipif(not host_malloc._glibc_reads_tunable(),
                                 reason='needs Linux with glibc >= 2.35')


def _run(tunables):
  env = {k: v for k, v in os.environ.items()
         if k not in ('GLIBC_TUNABLES', 'PID_BEFORE')}
  if tunables is not None:
    env['GLIBC_TUNABLES'] = tunables
  out = subprocess.run([sys.executable, '-c', _PROGRAM, 'a', '--b=c'],
                       env=env, capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


@needs_glibc
def test_restarts_once_in_place_with_the_tunable():
  seen = _run(None)
  assert seen['tunables'] == 'glibc.malloc.hugetlb=1'
  assert seen['pid'] == seen['pid_before']  # exec, not a child process.
  assert seen['argv'] == ['a', '--b=c']


@needs_glibc
def test_keeps_other_tunables_and_a_users_choice():
  seen = _run('glibc.malloc.arena_max=2')
  assert seen['tunables'] == 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
  assert _run('glibc.malloc.hugetlb=0')['tunables'] == 'glibc.malloc.hugetlb=0'
