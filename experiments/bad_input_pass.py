r"""Re-runs issue 9's bad inputs and faults from outside, as a new user would.

  .venv/bin/python experiments/bad_input_pass.py
  .venv/bin/python experiments/bad_input_pass.py --only='workdir/|sweep/'  # subset
  .venv/bin/python experiments/bad_input_pass.py --list                    # names
  # Another checkout (e.g. `git archive HEAD | tar -x -C /tmp/head`) with
  # this venv: --repo=/tmp/head

Every case runs a real entry point as a subprocess, one at a time, each with
a timeout: `launch.py`, the benchmark CLI (`python -m vit_jax.benchmarking`,
or `vit_jax.benchmark` in checkouts before 3f193e8) and the one-point job of
sweeps (`python -m vit_jax.sweeps.point_job`, formerly `run_point`). Configs
are tiny: configs/default.py:full shrunk to 8x8 images, dim 16, 1 layer,
4 steps, with digits prepared once in SCRATCH/data. Each case is judged
against the project's promise (README, issue 9):

  * a bad input ends with exactly one line on stderr, starting `error:` (a
    case may also allow a documented line: the `warning:` of an unreadable
    checkpoint, skip_corrupt's per-image log), a non-zero exit code of the
    documented kind (2: config/workdir; 1: corrupt data, failed sweep
    points, non-finite values; 130: Ctrl-C), and no `Traceback` anywhere;
  * nothing in an existing workdir is lost or changed: {path: sha256} of
    every file (and the list of folders) is byte-identical before and after;
    a refused run on a fresh --workdir does not create it; where a case may
    legitimately write (an extended run, a fallback from a broken
    checkpoint, a full disk) the checkpoints the run had are still there
    (or set aside in unreadable_checkpoints/);
  * nothing nonsensical trains silently (exit 0 where an error is due fails).

Sections:
  config   every int/float field of configs/common.trainer_defaults() (listed
           from the checkout under test; NUMERIC_FIELDS says which values):
           0 where zero means nothing (a negative value breaks the same rule;
           --thorough runs it too), else a negative value; and a wrong type.
           Bounds, NaN/inf, enumerations; model sizes, attention options,
           dtypes; config-file arguments; a diverging run (lr 1e30) must stop
           with no checkpoint at or after the non-finite step.
  data     missing / empty / file folders, corrupt images with and without
           skip_corrupt, unknown and unprepared tfds names, bad data_dir,
           class mismatches, unreadable folder and image (as nobody).
  workdir  config.json as {}, [1,2,3], "", empty, null, bad UTF-8, truncated,
           a folder; run files without config.json; another config; total_steps
           below the checkpoint; max_to_keep shrink / 0 / grow; truncated or
           incomplete checkpoints (train and predict); checkpoints/ or .lock
           of the wrong kind; a workdir that is a file, under /proc, empty,
           read-only (as nobody), with an unwritable parent (as nobody); the
           disk filling up mid-run (a 4 MiB tmpfs this pass mounts).
  running  predict on and a second run in a running run's workdir (the run
           must go on, its config.json unchanged); SIGTERM; Ctrl-C mid-run
           (metrics rows not repeated after the resume), during compilation,
           and 1.5 s after start (imports; where that lands varies with load).
  cli      unknown / misspelt fields, sections and leaves, malformed tuples,
           empty values, positional arguments, missing flags, bad config
           files, bad --processes.
  sweep    empty sweeps, filters matching nothing, bad / duplicate / unsafe
           points, a changed base config (rerun and --sweep_commands must
           change nothing), a failed point (exit 1), the point job's inputs,
           SIGTERM to the runner (no orphan, point recorded preempted).
  bench    batch 0, bad models, bad flags, mode=benchmark with bad fields.

We run as root, for whom chmod stops neither reads nor writes, so the
permission cases run the child as `nobody` (setpriv) with the system
python3.11 and the venv's site-packages on PYTHONPATH (the venv's own
interpreter lives under /root, which nobody cannot enter); if that probe
fails, those cases are reported as skipped (not counted).

Prints one row per case (case, exit code, verdict, first stderr line), then
each broken case in full (command, exit code, what broke, first 15 and last
4 lines of stderr), per-section counts and `N/M as promised`. Exits 1 if any
case breaks the promise.

Expected runtime on the 2-core CPU machine: ~11.5 min for the ~255 cases
(measured 11 min 27 s with other jobs running, load 2.5-3: config 308 s,
workdir 125 s, sweep 86 s, data 54 s, ...; ~2-3 s per config error, ~5 s
per workdir refusal, ~10 s per tiny training run, plus ~1.5 min of
background scenarios; sequential). --thorough adds ~20 cases (~1 min).
Scratch: --scratch (default /tmp/bad_input_pass, wiped at start), a few MB.
Expected result: `M/M as promised` and exit 0 once issue 9 is done. On
2026-12-07 at ff526d4 it printed `244/255 as promised` (exit 1); the broken
cases are listed, with their commands and stderr, by the run itself. Two
cases are timing-dependent: where the 1.5 s Ctrl-C lands, and the asyncio
noise orbax sometimes prints while skipping a truncated checkpoint.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOBODY = ('setpriv', '--reuid=65534', '--regid=65534', '--clear-groups')
SYSTEM_PYTHON = '/usr/bin/python3.11'


@dataclasses.dataclass
class Ctx:
  """Paths of this pass."""
  repo: str
  python: str
  scratch: str

  @property
  def data(self):
    return os.path.join(self.scratch, 'data')

  @property
  def template(self):
    return os.path.join(self.scratch, 'template_run')

  def path(self, *parts):
    return os.path.join(self.scratch, *parts)

  @property
  def benchmark_module(self):
    """The benchmark CLI (vit_jax.benchmarking since 3f193e8)."""
    new = os.path.join(self.repo, 'vit_jax', 'benchmarking', '__main__.py')
    return 'vit_jax.benchmarking' if os.path.exists(new) else 'vit_jax.benchmark'

  @property
  def point_module(self):
    """The one-point command of sweeps (point_job, formerly run_point)."""
    new = os.path.join(self.repo, 'vit_jax', 'sweeps', 'point_job.py')
    return ('vit_jax.sweeps.point_job' if os.path.exists(new)
            else 'vit_jax.sweeps.run_point')


@dataclasses.dataclass
class Case:
  """One bad input: a command and what the promise says must happen."""
  name: str
  section: str
  argv: list  # After the interpreter: ['launch.py', ...] or ['-m', ...].
  expect: str = 'error'  # 'error': one error line; 'ok': exit 0, no error.
  codes: tuple = (2,)
  # An existing path whose contents must stay byte-identical.
  unchanged: Optional[str] = None
  # A path that must not exist afterwards (a refused run's fresh workdir).
  not_created: Optional[str] = None
  setup: Optional[Callable[[], None]] = None
  # (stdout, stderr) -> a problem, or None.
  check: Optional[Callable[[str, str], Optional[str]]] = None
  # Extra stderr lines the promise allows (documented warnings), regexes.
  allowed: tuple = ()
  user: str = 'root'  # 'nobody': run unprivileged (permission cases).
  cwd: Optional[str] = None
  timeout: float = 90
  note: str = ''


@dataclasses.dataclass
class Outcome:
  name: str
  section: str
  command: str
  rc: Optional[int]
  stdout: str
  stderr: str
  problems: list
  seconds: float
  skipped: str = ''

  @property
  def verdict(self):
    if self.skipped:
      return 'skip'
    return 'ok' if not self.problems else 'BROKEN'


# ---------------------------------------------------------------------------
# Helpers: snapshots, commands, judging.


LOCK_FILE = '.lock'  # vit_jax/training/workdir.py


def snapshot(path: str) -> Optional[dict]:
  """{relative path: sha256 (files) | 'dir' | 'link->target'}; None if absent."""
  if not os.path.lexists(path):
    return None
  if not os.path.isdir(path) or os.path.islink(path):
    with open(path, 'rb') as f:
      return {'.': hashlib.sha256(f.read()).hexdigest()}
  result = {}
  for root, dirs, files in os.walk(path):
    for name in dirs:
      full = os.path.join(root, name)
      result[os.path.relpath(full, path)] = (
          'link->' + os.readlink(full) if os.path.islink(full) else 'dir')
    for name in files:
      full = os.path.join(root, name)
      rel = os.path.relpath(full, path)
      if os.path.islink(full):
        result[rel] = 'link->' + os.readlink(full)
        continue
      if rel == LOCK_FILE:
        # The run's own lock: it holds the pid of the last process that took
        # it (each run start rewrites it), never anyone's data. Its presence
        # still counts.
        result[rel] = 'lock'
        continue
      with open(full, 'rb') as f:
        result[rel] = hashlib.sha256(f.read()).hexdigest()
  return result


def snapshot_diff(before: dict, after: Optional[dict]) -> str:
  if after is None:
    return 'the path was deleted'
  lost = sorted(set(before) - set(after))
  added = sorted(set(after) - set(before))
  changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
  parts = []
  for what, keys in (('lost', lost), ('changed', changed), ('added', added)):
    if keys:
      parts.append(f'{what}: {", ".join(keys[:5])}'
                   + (f' (+{len(keys) - 5})' if len(keys) > 5 else ''))
  return '; '.join(parts)


TINY = {
    # configs/default.py:full shrunk to seconds (as tests/test_training.py).
    'total_steps': 4, 'log_every_steps': 2, 'eval_every_steps': 1000,
    'checkpoint_every_steps': 2, 'image_size': 8, 'model.hidden_size': 16,
    'model.transformer.num_layers': 1, 'model.transformer.num_heads': 2,
    'model.transformer.mlp_dim': 16, 'batch_size': 16, 'eval_batch_size': 64,
}
DEFAULT = 'configs/default.py:full'


def launch(ctx: Ctx, workdir: Optional[str], overrides: Optional[dict] = None,
           *, config: str = DEFAULT, extra=(), tiny: bool = True) -> list:
  """argv of launch.py on the tiny config; an override of None drops a base
  override; `workdir` None leaves out --workdir."""
  merged = dict(TINY) if tiny else {}
  merged['data_dir'] = ctx.data
  merged.update(overrides or {})
  argv = ['launch.py', f'--config={config}']
  if workdir is not None:
    argv.append(f'--workdir={workdir}')
  argv += [f'--config.{k}={v}' for k, v in merged.items() if v is not None]
  return argv + list(extra)


def command_for(ctx: Ctx, argv: list, user: str) -> tuple[list, dict]:
  env = dict(os.environ)
  env.pop('TFDS_DATA_DIR', None)
  if user == 'nobody':
    env['HOME'] = ctx.path('nobody_home')
    env['PYTHONPATH'] = nobody_site_packages(ctx)
    return [*NOBODY, SYSTEM_PYTHON, *argv], env
  return [ctx.python, *argv], env


def nobody_site_packages(ctx: Ctx) -> str:
  venv = os.path.dirname(os.path.dirname(ctx.python))
  lib = os.path.join(venv, 'lib')
  versions = [d for d in os.listdir(lib) if d.startswith('python')]
  return os.path.join(lib, versions[0], 'site-packages')


def slug(name: str) -> str:
  """A folder name for a case."""
  return re.sub(r'[^A-Za-z0-9._=-]+', '_', name).strip('_')[:80]


def nonempty_lines(text: str) -> list:
  return [line for line in text.splitlines() if line.strip()]


def judge(case_expect: str, codes, rc, out: str, err: str,
          allowed=()) -> list:
  """What breaks the promise in one process's outcome (empty: nothing)."""
  problems = []
  if rc is None:
    return ['timed out (killed)']
  if 'Traceback' in out or 'Traceback' in err:
    problems.append('traceback')
  lines = nonempty_lines(err)
  errors = [l for l in lines if l.startswith('error:')]
  others = [l for l in lines if not l.startswith('error:')
            and not any(re.search(p, l) for p in allowed)]
  if case_expect == 'either':  # Exit 0, or a refusal in one line: both fine.
    case_expect = 'ok' if rc == 0 else 'error'
  if case_expect == 'error':
    if rc == 0:
      problems.append('exit 0 for a bad input (ran silently)')
    elif rc not in codes:
      problems.append(f'exit {rc}, expected {"/".join(map(str, codes))}')
    if len(errors) != 1:
      problems.append(f'{len(errors)} `error:` lines on stderr')
  else:
    if rc not in codes:
      problems.append(f'exit {rc}, expected {"/".join(map(str, codes))}')
    if errors:
      problems.append(f'error line: {errors[0][:120]}')
  if others and 'traceback' not in problems:
    problems.append(f'{len(others)} other stderr line(s), e.g. '
                    f'{others[0][:100]!r}')
  return problems


def run_case(ctx: Ctx, case: Case, nobody_ok: str) -> Outcome:
  cmd, env = command_for(ctx, case.argv, case.user)
  shown = ' '.join(shlex.quote(a) for a in cmd)
  if case.user == 'nobody' and nobody_ok:
    return Outcome(case.name, case.section, shown, None, '', '', [], 0.0,
                   skipped=nobody_ok)
  start = time.time()
  try:
    if case.setup:
      case.setup()
  except Exception as e:  # pylint: disable=broad-except
    return Outcome(case.name, case.section, shown, None, '', '',
                   [f'setup of the case failed: {type(e).__name__}: {e}'],
                   time.time() - start)
  before = snapshot(case.unchanged) if case.unchanged else None
  rc, out, err = execute(cmd, env, cwd=case.cwd or ctx.repo,
                         timeout=case.timeout)
  problems = judge(case.expect, case.codes, rc, out, err, case.allowed)
  if case.unchanged:
    if before is None:
      problems.append(f'(pass bug) {case.unchanged} did not exist before')
    else:
      diff = snapshot_diff(before, snapshot(case.unchanged))
      if diff:
        problems.append(f'workdir changed: {diff}')
  if case.not_created and os.path.lexists(case.not_created):
    problems.append(f'refused run created {case.not_created}: '
                    f'{sorted(os.listdir(case.not_created))[:6] if os.path.isdir(case.not_created) else "a file"}')
  if case.check and rc is not None:
    problem = case.check(out, err)
    if problem:
      problems.append(problem)
  return Outcome(case.name, case.section, shown, rc, out, err, problems,
                 time.time() - start)


def execute(cmd, env, *, cwd, timeout):
  """(exit code or None on timeout, stdout, stderr)."""
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, cwd=cwd, start_new_session=True)
  try:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
  except subprocess.TimeoutExpired:
    kill_group(proc)
    out, err = proc.communicate()
    return None, out, err


def kill_group(proc):
  try:
    os.killpg(proc.pid, signal.SIGKILL)
  except ProcessLookupError:
    pass


def copy_template(ctx: Ctx, dest: str, *, mode=None):
  """A finished 4-step run (checkpoints 2 and 4) at `dest`."""
  if os.path.lexists(dest):
    chmod_tree(dest, 0o755)
    shutil.rmtree(dest)
  shutil.copytree(ctx.template, dest, symlinks=True)
  if mode is not None:
    chmod_tree(dest, mode)


def chmod_tree(path, dir_mode, file_mode=0o644):
  if not os.path.isdir(path):
    return
  os.chmod(path, dir_mode)
  for root, dirs, files in os.walk(path):
    for d in dirs:
      os.chmod(os.path.join(root, d), dir_mode)
    for f in files:
      os.chmod(os.path.join(root, f), file_mode)


def ckpt_steps(workdir):
  path = os.path.join(workdir, 'checkpoints')
  return sorted(int(n) for n in os.listdir(path) if n.isdigit()) if (
      os.path.isdir(path)) else []


def expect_steps(workdir, *want, also=()):
  """A check: checkpoints `want` are in WORKDIR/checkpoints (and `also`
  paths exist)."""

  def check(out, err):
    del out, err
    have = ckpt_steps(workdir)
    missing = [s for s in want if s not in have]
    gone = [p for p in also if not os.path.exists(os.path.join(workdir, p))]
    if missing or gone:
      return (f'checkpoints now {have}; missing {missing or ""} '
              f'{gone or ""}').strip()
    return None

  return check


def expect_text(pattern, where='out'):
  def check(out, err):
    text = out if where == 'out' else err
    if not re.search(pattern, text):
      return f'expected {pattern!r} on std{where}'
    return None
  return check


def all_checks(*checks):
  def check(out, err):
    for c in checks:
      problem = c(out, err)
      if problem:
        return problem
    return None
  return check


# ---------------------------------------------------------------------------
# The cases.

# configs/common.trainer_defaults' numeric fields -> (a negative value,
# whether 0 is meaningless for it). Zero is meaningful (so not a bad input)
# for: seed, random_shift (no shift), mixup_alpha (off), the optimizer's
# b1/b2/momentum/weight_decay, warmup_steps (none), end_factor (decay to 0),
# grad_clip_norm (no clipping), label_smoothing (none), total_steps (nothing
# left to train: evaluates).
NUMERIC_FIELDS = {
    'seed': ('-1', False),
    'predict_batch_size': ('-1', True),
    'num_classes': ('-1', True),
    'image_size': ('-8', True),
    'input.random_shift': ('-1', False),
    'input.resize_size': ('-8', True),
    'input.mixup_alpha': ('-0.5', False),
    'input.folder_test_fraction': ('-0.1', True),
    'synthetic.num_train': ('-1', True),
    'synthetic.num_test': ('-1', True),
    'synthetic.channels': ('-1', True),
    'batch_size': ('-16', True),
    'eval_batch_size': ('-64', True),
    'total_steps': ('-4', False),
    'total_epochs': ('-1.0', True),
    'optimizer.b1': ('-0.9', False),
    'optimizer.b2': ('-0.999', False),
    'optimizer.weight_decay': ('-0.1', False),
    'optimizer.momentum': ('-0.9', False),
    'lr.base': ('-0.001', True),
    'lr.warmup_steps': ('-1', False),
    'lr.end_factor': ('-0.5', False),
    'grad_clip_norm': ('-1.0', False),
    'label_smoothing': ('-0.1', False),
    'benchmark.steps': ('-1', True),
    'sweep_memory_limit_gb': ('-1.0', True),
    'sweep_timeout_s': ('-1', True),
    'log_every_steps': ('-2', True),
    'eval_every_steps': ('-1', True),
    'checkpoint_every_steps': ('-2', True),
    'max_to_keep': ('-1', True),
    # Added with issue 10 (input threads/prefetch/cache, synthetic seed,
    # per-evaluator frequency); threads/prefetch/cache 0 mean "none".
    'input.num_threads': ('-1', False),  # 0: in the calling thread.
    'input.prefetch': ('-1', False),
    'input.cache_max_bytes': ('-1', False),
    'synthetic.seed': ('-1', False),
    'evals.test.every_steps': ('-1', True),
    'grad_accum_steps': ('-1', True),  # Issue 11: micro-batches per step.
}

_LIST_FIELDS = '''
import json, ml_collections
from configs import common
out = {}
def walk(section, prefix):
  for key in section.keys():
    value = section[key]
    if isinstance(value, ml_collections.ConfigDict):
      walk(value, prefix + key + '.')
    elif section.get_type(key) in (int, float):
      out[prefix + key] = section.get_type(key).__name__
walk(common.trainer_defaults(), '')
print(json.dumps(out))
'''


def numeric_fields(ctx: Ctx) -> dict:
  """{dotted field: (negative value, zero is bad)} for every int/float
  field of configs/common.trainer_defaults() in the repo under test (new
  fields get -1 and no zero case; fields that are gone are dropped)."""
  cmd, env = command_for(ctx, ['-c', _LIST_FIELDS], 'root')
  rc, out, err = execute(cmd, env, cwd=ctx.repo, timeout=120)
  try:
    found = json.loads(out.strip().splitlines()[-1])
  except (ValueError, IndexError):
    print('warning: could not list trainer_defaults() fields (exit '
          f'{rc}: {(nonempty_lines(err) or ["?"])[-1][:100]}); using the '
          'built-in list')
    return dict(NUMERIC_FIELDS)
  fields = {}
  for name, kind in found.items():
    fields[name] = NUMERIC_FIELDS.get(
        name, ('-1' if kind == 'int' else '-0.5', False))
  new = sorted(set(found) - set(NUMERIC_FIELDS))
  gone = sorted(set(NUMERIC_FIELDS) - set(found))
  if new or gone:
    print(f'trainer_defaults(): new numeric fields {new or "none"} (tested '
          f'negative and wrong type only); gone {gone or "none"}')
  return fields

# Other bad values: (field, value, why).
OTHER_CONFIG_VALUES = [
    ('seed', '2147483648', 'above the 32-bit seed range'),
    ('optimizer.b1', '1.0', 'Adam b1 must be < 1'),
    ('optimizer.b2', '1.5', 'Adam b2 must be < 1'),
    ('optimizer.momentum', '1.0', 'momentum must be < 1'),
    ('lr.end_factor', '1.5', 'end factor above 1'),
    ('label_smoothing', '1.0', 'label smoothing of 1 learns nothing'),
    ('input.folder_test_fraction', '1.0', 'no training images left'),
    ('synthetic.channels', '5', 'images have 1-4 channels'),
    ('lr.base', 'nan', 'NaN learning rate'),
    ('lr.base', 'inf', 'infinite learning rate'),
    ('grad_clip_norm', 'nan', 'NaN clip norm'),
    ('total_epochs', 'inf', 'infinite duration'),
    ('batch_size', '1.5', 'float for an int field'),
    ('deterministic', 'maybe', 'not a bool'),
    ('mode', 'serve', 'unknown mode'),
    ('optimizer.name', 'adam', 'unknown optimizer'),
    ('lr.decay', 'linear', 'unknown decay'),
    ('benchmark.kind', 'both', 'unknown benchmark kind'),
    ('dataset', '', 'empty dataset name'),
    ('train_split', '', 'empty split name'),
    ('input.value_range', '(1.0, -1.0)', 'low > high'),
    ('input.value_range', '(1.0,)', 'one value'),
    ('input.randaugment', '(-1, 5)', 'negative RandAugment layers'),
    ('input.randaugment', '(2, 11)', 'RandAugment magnitude above 10'),
    ('input.randaugment', '(2,)', 'one value'),
    ('input.train_ops', '("nosuchop",)', 'unknown op name'),
    ('num_classes', '5', 'digits has 10 classes'),
    ('train_split', 'validation', 'digits has no such split'),
]

MODEL_VALUES = [
    # (field, value) on configs/default.py:full (tiny sizes).
    ('model.patch_size', '0'), ('model.patch_size', '-4'),
    ('model.patch_size', '3'),  # 8 is not divisible by 3.
    ('model.patch_size', '16'),  # Larger than the 8x8 image.
    ('model.patch_size', 'abc'),
    ('model.hidden_size', '0'), ('model.hidden_size', '-8'),
    ('model.hidden_size', '15'),  # Not divisible by 2 heads.
    ('model.transformer.num_layers', '0'),
    ('model.transformer.num_heads', '0'), ('model.transformer.num_heads', '-2'),
    ('model.transformer.num_heads', '3'),
    ('model.transformer.mlp_dim', '0'), ('model.transformer.mlp_dim', '-16'),
    ('model.transformer.dropout_rate', '-0.1'),
    ('model.transformer.dropout_rate', '1.0'),
    ('model.transformer.attention_dropout_rate', '1.5'),
    ('model.classifier', 'foo'), ('model.posemb', 'foo'),
    ('model.representation_size', '0'),
    ('model.dtype', 'int32'), ('model.dtype', 'float33'),
    ('model.dtype', 'float64'),
    ('optimizer.mu_dtype', 'int32'),  # Adam's first moment (issue 11).
    ('grad_accum_steps', '3'),  # Batch 16 does not split into 3.
    ('model.attention.name', 'foo'),
    ('model.attention.name', 'linformer'),  # Without k / max_length.
    ('model.attention.implementation', 'foo'),
    ('model.name', 'resnet'),
]

LINFORMER_VALUES = [
    ('model.attention.k', '0'), ('model.attention.k', '-1'),
    ('model.attention.k', 'abc'), ('model.attention.max_length', '0'),
    ('model.attention.max_length', '3'),  # Fewer than the 5 tokens.
    ('model.attention.sharing', 'all'),
    ('model.attention.name', 'full'),  # With Linformer's k/sharing left.
]


def config_cases(ctx: Ctx, thorough: bool = False) -> list:
  cases = []

  def bad(name, overrides, *, config=DEFAULT, note=''):
    w = ctx.path('wd', 'config', slug(name))
    cases.append(Case(name, 'config', launch(ctx, w, overrides, config=config),
                      not_created=w, note=note))

  for field, (negative, zero_bad) in numeric_fields(ctx).items():
    # Zero, where it is bad, is the boundary of the same `>= 1` / `> 0`
    # rule a negative value breaks: by default only the boundary is run.
    if thorough or not zero_bad:
      bad(f'{field}={negative}', {field: negative})
    if zero_bad:
      bad(f'{field}=0', {field: '0'})
    bad(f'{field}=abc', {field: 'abc'})
  for field, value, why in OTHER_CONFIG_VALUES:
    bad(f'{field}={value}', {field: value}, note=why)
  for field, value in MODEL_VALUES:
    bad(f'{field}={value}', {field: value})
  for field, value in LINFORMER_VALUES:
    bad(f'linformer:{field}={value}', {field: value},
        config='configs/default.py:linformer')
  # Section C: a run that diverges stops before saving a non-finite state.
  w = ctx.path('wd', 'config', 'diverging')

  def no_checkpoint_at_or_after_failure(out, err):
    m = re.search(r'non-finite .* at step (\d+)', err)
    if not m:
      return 'no "non-finite ... at step N" error'
    late = [s for s in ckpt_steps(w) if s >= int(m.group(1))]
    return f'checkpoints saved at/after the failure: {late}' if late else None
  cases.append(Case(
      'lr.base=1e30 (diverges: must stop, no bad checkpoint)', 'config',
      launch(ctx, w, {'lr.base': '1e30', 'checkpoint_every_steps': '1',
                      'log_every_steps': '1'}), codes=(1,),
      check=no_checkpoint_at_or_after_failure))
  # Config-file arguments.
  for arg in ('linformer,k=0', 'linformer,k=abc', 'foo', 'full,bogus=1'):
    w = ctx.path('wd', 'config', slug('arg_' + arg))
    cases.append(Case(f'--config=default.py:{arg}', 'config',
                      launch(ctx, w, config=f'configs/default.py:{arg}'),
                      not_created=w))
  return cases


def make_images(root: str, *, corrupt_every: int = 0, classes=('cat', 'dog'),
                per_class: int = 6):
  """DIR/{train,test}/<class>/*.png of 8x8 images; every `corrupt_every`-th
  file is garbage bytes (all of them for 1)."""
  from PIL import Image  # The venv's Pillow (this script runs in the venv).
  import numpy as np
  rng = np.random.default_rng(0)
  for split in ('train', 'test'):
    for c in classes:
      d = os.path.join(root, split, c)
      os.makedirs(d, exist_ok=True)
      for i in range(per_class):
        path = os.path.join(d, f'{i}.png')
        if corrupt_every and i % corrupt_every == 0:
          with open(path, 'wb') as f:
            f.write(b'\x89PNG\r\n\x1a\n not an image ' * 3)
        else:
          Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
                          ).save(path)


def make_datasets(ctx: Ctx):
  """The folders of the data cases (also used by the sweep cases)."""
  d = ctx.path('datasets')
  os.makedirs(d, exist_ok=True)
  os.makedirs(os.path.join(d, 'empty'), exist_ok=True)
  with open(os.path.join(d, 'afile'), 'w') as f:
    f.write('not a folder\n')
  make_images(os.path.join(d, 'all_corrupt'), corrupt_every=1)
  make_images(os.path.join(d, 'some_corrupt'), corrupt_every=3)
  make_images(os.path.join(d, 'test_extra_class'))
  extra = os.path.join(d, 'test_extra_class', 'test', 'zebra')
  os.makedirs(extra, exist_ok=True)
  shutil.copy(os.path.join(d, 'test_extra_class', 'test', 'cat', '1.png'),
              os.path.join(extra, '1.png'))
  # Unreadable for nobody: a class folder, and one image file.
  make_images(os.path.join(d, 'unreadable_class'))
  os.chmod(os.path.join(d, 'unreadable_class', 'train', 'dog'), 0o700)
  make_images(os.path.join(d, 'unreadable_image'))
  os.chmod(os.path.join(d, 'unreadable_image', 'train', 'dog', '2.png'),
           0o600)
  os.makedirs(ctx.path('empty_tfds'), exist_ok=True)


# The documented log line of skip_corrupt (absl WARNING, one per image).
SKIP_WARNING = r'^W\d+ .*Skipping corrupt image .* corrupt image\(s\) skipped'


def data_cases(ctx: Ctx) -> list:
  cases = []
  d = ctx.path('datasets')

  def w(name):
    return ctx.path('wd', 'data', slug(name))

  def folder(name, **more):
    return {'dataset': f'folder:{os.path.join(d, name)}', 'num_classes': 2,
            **more}

  def add(name, overrides, *, codes=(2,), fresh=True, **kw):
    cases.append(Case(name, 'data', launch(ctx, w(name), overrides),
                      codes=codes, not_created=w(name) if fresh else None,
                      **kw))

  add('folder missing', folder('nope'))
  add('folder empty', folder('empty'))
  add('folder is a file', folder('afile'))
  add('folder all corrupt', folder('all_corrupt'), codes=(1,), fresh=False)
  add('folder all corrupt, skip_corrupt', folder(
      'all_corrupt', **{'input.skip_corrupt': 'True'}), codes=(1,),
      fresh=False, allowed=(SKIP_WARNING,))
  add('folder some corrupt', folder('some_corrupt'), codes=(1,), fresh=False)
  cases.append(Case(
      'folder some corrupt, skip_corrupt (trains, logs count)', 'data',
      launch(ctx, w('some_skip'), folder('some_corrupt', **{
          'input.skip_corrupt': 'True'})), expect='ok', codes=(0,),
      allowed=(SKIP_WARNING,),
      check=expect_text(r'Skipping corrupt image', 'err')))
  add('folder test split has an extra class', folder('test_extra_class'))
  add('folder with 3 classes, num_classes=2', {
      'dataset': f'folder:{os.path.join(d, "test_extra_class")}',
      'num_classes': 3})
  add('unknown tfds name', {'dataset': 'nosuchdataset_xyz'})
  add('unprepared tfds (mnist)', {'dataset': 'mnist',
                                  'data_dir': ctx.path('empty_tfds')})
  add('unprepared tfds preset (cifar10)', {
      'dataset': 'cifar10', 'data_dir': ctx.path('empty_tfds')})
  add('tfds name with bad version', {'dataset': 'digits:9.9.9'})
  add('data_dir is a file', {'data_dir': os.path.join(d, 'afile')})
  add('data_dir under /proc (cannot prepare digits)',
      {'data_dir': '/proc/no_such_dir/tfds'})
  cases.append(Case(
      'folder class unreadable (nobody)', 'data',
      launch(ctx, ctx.path('wd_nobody', 'unreadable_class'),
             folder('unreadable_class')), user='nobody',
      not_created=ctx.path('wd_nobody', 'unreadable_class')))
  cases.append(Case(
      'folder image unreadable (nobody)', 'data',
      launch(ctx, ctx.path('wd_nobody', 'unreadable_image'),
             folder('unreadable_image')), user='nobody', codes=(1,)))
  return cases


def workdir_cases(ctx: Ctx) -> list:
  cases = []
  other = {'lr.base': '0.5', 'seed': '1'}  # Another run's config.

  def wd(name):
    return ctx.path('wd', 'workdir', slug(name))

  def prepared(name, edit=None, mode=None):
    def setup():
      copy_template(ctx, wd(name))
      if edit:
        edit(wd(name))
      if mode is not None:
        chmod_tree(wd(name), mode)
    return setup

  def write(rel, content):
    def edit(path):
      target = os.path.join(path, rel)
      if os.path.isdir(target):
        shutil.rmtree(target)
      elif os.path.lexists(target):
        os.remove(target)
      if content is not None:
        with open(target, 'wb') as f:
          f.write(content)
    return edit

  def refused(name, overrides, edit=None, *, codes=(2,), argv=None, **kw):
    cases.append(Case(name, 'workdir',
                      argv or launch(ctx, wd(name), overrides),
                      setup=prepared(name, edit), unchanged=wd(name),
                      codes=codes, **kw))

  config_json = os.path.join(ctx.template, 'config.json')

  def truncated_record(path):
    with open(config_json, 'rb') as f:
      data = f.read()
    with open(os.path.join(path, 'config.json'), 'wb') as f:
      f.write(data[:len(data) // 2])

  for label, content in (('{}', b'{}'), ('[1,2,3]', b'[1, 2, 3]'),
                         ('""', b'""'), ('empty file', b''),
                         ('null', b'null'), ('invalid UTF-8', b'\xff\xfe{')):
    refused(f'config.json is {label} (another lr/seed)', other,
            write('config.json', content))
  refused('config.json truncated (another lr/seed)', other, truncated_record)
  refused('config.json is a folder', other,
          lambda p: (os.remove(os.path.join(p, 'config.json')),
                     os.mkdir(os.path.join(p, 'config.json'))))
  refused('run files without config.json', other, write('config.json', None))
  refused('only metrics.jsonl, no config.json', {},
          lambda p: [shutil.rmtree(os.path.join(p, n)) if os.path.isdir(
              os.path.join(p, n)) else os.remove(os.path.join(p, n))
                     for n in os.listdir(p) if n != 'metrics.jsonl'])
  refused('another lr.base', {'lr.base': '0.5'})
  refused('another seed', {'seed': '1'})
  refused('another model size', {'model.hidden_size': '32'})
  refused('another attention (linformer)', {},
          argv=launch(ctx, wd('another attention (linformer)'),
                      config='configs/default.py:linformer'))
  refused('another dataset (synthetic)', {'dataset': 'synthetic'})
  refused('mode=benchmark in a training workdir?', {'mode': 'benchmark',
                                                     'benchmark.steps': '1'},
          codes=(0, 2), expect='either',
          note='a benchmark reads nothing of the workdir: ok if untouched')
  refused('total_steps=2 below checkpoint 4', {'total_steps': '2'})
  refused('max_to_keep=1 (shrink from 2)', {'max_to_keep': '1',
                                            'total_steps': '6'})
  refused('max_to_keep=0 extending the run', {'max_to_keep': '0',
                                              'total_steps': '6'})
  refused('class_names.json corrupt', {'total_steps': '6'},
          write('class_names.json', b'["cat", '))
  refused('class_names.json other classes', {'total_steps': '6'},
          write('class_names.json', b'["a", "b"]'))
  refused('.lock is a folder', {'total_steps': '6'},
          lambda p: (os.remove(os.path.join(p, '.lock')),
                     os.mkdir(os.path.join(p, '.lock'))))
  refused('checkpoints is a file', {'total_steps': '6'},
          write('checkpoints', b'not a folder\n'))

  def truncate_step(step):
    def edit(path):
      state = os.path.join(path, 'checkpoints', str(step), 'state')
      files = [os.path.join(r, n) for r, _, names in os.walk(state)
               for n in names if os.sep + 'd' + os.sep in os.path.join(r, n)]
      if not files:
        raise RuntimeError(f'no data files under {state}')
      for f in files:
        open(f, 'w').close()
    return edit

  def truncate_all(path):
    for step in ckpt_steps(path):
      truncate_step(step)(path)

  # A corrupt latest checkpoint: a warning, resume from 2, step 4 set aside.
  name = 'truncated latest checkpoint, extend to 6'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'total_steps': '6'}),
      expect='ok', codes=(0,), setup=prepared(name, truncate_step(4)),
      allowed=(r'^warning: checkpoint 4 .* cannot be read',),
      check=all_checks(
          expect_text(r'resumed from step 2'),
          expect_text(r'warning: checkpoint 4', 'err'),
          expect_steps(wd(name), 4, 6, also=('unreadable_checkpoints/4',)))))
  name = 'truncated latest checkpoint, predict'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'mode': 'predict'}),
      expect='ok', codes=(0,), setup=prepared(name, truncate_step(4)),
      unchanged=wd(name), allowed=(r'^warning: checkpoint 4 .* cannot be read',),
      check=expect_text(r'^predict: ', 'out')))
  refused('every checkpoint truncated', {'total_steps': '6'}, truncate_all)
  name = 'latest checkpoint without its state folder, extend to 6'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'total_steps': '6'}),
      expect='ok', codes=(0,), setup=prepared(name, lambda p: shutil.rmtree(
          os.path.join(p, 'checkpoints', '4', 'state'))),
      allowed=(r'^warning: checkpoint 4 .* cannot be read',),
      check=all_checks(
          expect_text(r'resumed from step 2'),
          expect_steps(wd(name), 4, 6, also=('unreadable_checkpoints/4',)))))
  # Changes that are allowed must keep what the run has.
  name = 'max_to_keep=3 (grow), extend to 6'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'max_to_keep': '3',
                                              'total_steps': '6'}),
      expect='ok', codes=(0,), setup=prepared(name),
      check=expect_steps(wd(name), 2, 4, 6)))
  name = 'predict on a finished run'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'mode': 'predict'}),
      expect='ok', codes=(0,), setup=prepared(name), unchanged=wd(name),
      check=expect_text(r'^predict: ', 'out')))
  # Places that are not workdirs.
  path = ctx.path('wd', 'workdir', 'a_file')

  def make_file():
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      f.write('my notes\n')
  cases.append(Case('workdir is a file', 'workdir', launch(ctx, path),
                    setup=make_file, unchanged=path))
  cases.append(Case('workdir under /proc (cannot be created)', 'workdir',
                    launch(ctx, '/proc/no_such_dir/run')))
  cases.append(Case('predict, workdir does not exist', 'workdir',
                    launch(ctx, wd('predict_missing'), {'mode': 'predict'}),
                    expect='either', codes=(0, 2),
                    not_created=wd('predict_missing'),
                    note='fresh weights are documented; must not create it'))
  cwd = ctx.path('cwd_for_empty_workdir')

  def make_cwd():
    os.makedirs(cwd, exist_ok=True)
    with open(os.path.join(cwd, 'mine.txt'), 'w') as f:
      f.write('mine\n')
  argv = launch(ctx, '', config=os.path.join(ctx.repo, DEFAULT))
  argv[0] = os.path.join(ctx.repo, 'launch.py')
  cases.append(Case('--workdir= (empty string)', 'workdir', argv,
                    setup=make_cwd, unchanged=cwd, cwd=cwd,
                    note='would train into the current directory'))
  # Permission cases, as an unprivileged user.
  name = 'predict on a chmod 555 workdir (nobody)'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'mode': 'predict'}),
      expect='ok', codes=(0,), user='nobody',
      setup=prepared(name, mode=0o555), unchanged=wd(name),
      check=expect_text(r'^predict: ', 'out')))
  name = 'train in a chmod 555 workdir (nobody)'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'total_steps': '6'}),
      user='nobody', setup=prepared(name, mode=0o555), unchanged=wd(name)))
  name = 'train in a root-owned 755 workdir (nobody)'
  cases.append(Case(
      name, 'workdir', launch(ctx, wd(name), {'total_steps': '6'}),
      user='nobody', setup=prepared(name), unchanged=wd(name)))
  parent = ctx.path('ro_parent')

  def make_parent():
    os.makedirs(parent, exist_ok=True)
    os.chmod(parent, 0o555)
  cases.append(Case('unwritable parent (nobody)', 'workdir',
                    launch(ctx, os.path.join(parent, 'run')), user='nobody',
                    setup=make_parent, unchanged=parent))
  return cases


def cli_cases(ctx: Ctx) -> list:
  cases = []

  def add(name, argv, **kw):
    cases.append(Case(name, 'cli', argv, **kw))

  def w(name):
    return ctx.path('wd', 'cli', slug(name))

  add('unknown field model.attention.k (full)',
      launch(ctx, w('a'), {'model.attention.k': '4'}), not_created=w('a'))
  add('typo --config.total_stepz', launch(ctx, w('b'), {'total_stepz': '4'}),
      not_created=w('b'))
  add('typo --config.lr.bse', launch(ctx, w('c'), {'lr.bse': '0.1'}),
      not_created=w('c'))
  add('override of a section --config.lr=0.1',
      launch(ctx, w('d'), {'lr': '0.1'}), not_created=w('d'))
  add('field below a leaf --config.seed.x=1',
      launch(ctx, w('e'), {'seed.x': '1'}), not_created=w('e'))
  add('malformed tuple value_range=(1,', launch(
      ctx, w('f'), {'input.value_range': '(1,'}), not_created=w('f'))
  add('malformed tuple value_range=1.0', launch(
      ctx, w('g'), {'input.value_range': '1.0'}), not_created=w('g'))
  add('malformed tuple randaugment=(2,x)', launch(
      ctx, w('h'), {'input.randaugment': '(2,x)'}), not_created=w('h'))
  add('empty value --config.batch_size=', launch(
      ctx, w('i'), {'batch_size': ''}), not_created=w('i'))
  add('extra positional argument', launch(ctx, w('j'), extra=['extra']),
      not_created=w('j'))
  add('missing --workdir', launch(ctx, None))
  add('missing --config', ['launch.py', f'--workdir={w("k")}'],
      not_created=w('k'))
  add('unknown flag --workdri', launch(ctx, w('l'), extra=['--workdri=x']),
      not_created=w('l'))
  add('config file missing', launch(ctx, w('m'), config='configs/nope.py'),
      not_created=w('m'))
  add('config file not python', launch(ctx, w('n'), config='README.md'),
      not_created=w('n'))
  add('config file with a syntax error',
      launch(ctx, w('o'), config=ctx.path('configs', 'broken.py')),
      not_created=w('o'))
  add('config file without get_config',
      launch(ctx, w('p'), config=ctx.path('configs', 'no_get_config.py')),
      not_created=w('p'))
  add('--jax_distributed --processes=foo',
      launch(ctx, w('q'), extra=['--jax_distributed', '--processes=foo']),
      not_created=w('q'))
  return cases


SWEEP_CONFIG = '''"""Tiny sweeps for experiments/bad_input_pass.py (scratch)."""
from configs import default
from vit_jax.sweeps import grid

TINY = %r


def get_config(arg=None):
  kind, _, value = (arg or 'one').partition('=')
  config = default.get_config('full')
  config.update_from_flattened_dict(TINY)
  config.total_epochs = None
  config.data_dir = %r
  point = {'name': 'a', 'overrides': {}}
  if kind == 'one':
    config.sweep = [point]
  elif kind == 'lr':
    config.lr.base = float(value)
    config.sweep = [point]
  elif kind == 'empty':
    config.sweep = grid.product(('lr.base', []))
  elif kind == 'badfield':
    config.sweep = [{'name': 'a', 'overrides': {'lr.bse': 0.1}}]
  elif kind == 'badvalue':
    config.sweep = [{'name': 'a', 'overrides': {'lr.base': -1.0}}]
  elif kind == 'dup':
    config.sweep = [point, dict(point)]
  elif kind == 'badname':
    config.sweep = [{'name': '../escape', 'overrides': {}}]
  elif kind == 'long':
    config.sweep = [{'name': 'a', 'overrides': {
        'total_steps': 10**6, 'checkpoint_every_steps': 100,
        'log_every_steps': 100}}]
  elif kind == 'corrupt':
    config.sweep = [{'name': 'a', 'overrides': {
        'dataset': 'folder:' + value, 'num_classes': 2}}]
  return config
'''


def write_scratch_configs(ctx: Ctx):
  d = ctx.path('configs')
  os.makedirs(d, exist_ok=True)
  tiny = {k: int(v) if isinstance(v, int) else v for k, v in TINY.items()}
  with open(os.path.join(d, 'tiny_sweep.py'), 'w') as f:
    f.write(SWEEP_CONFIG % (tiny, ctx.data))
  with open(os.path.join(d, 'broken.py'), 'w') as f:
    f.write('def get_config(:\n  return None\n')
  with open(os.path.join(d, 'no_get_config.py'), 'w') as f:
    f.write('x = 1\n')


def sweep_cases(ctx: Ctx) -> list:
  cases = []
  sweep = ctx.path('configs', 'tiny_sweep.py')

  def w(name):
    return ctx.path('wd', 'sweep', slug(name))

  def add(name, argv, **kw):
    cases.append(Case(name, 'sweep', argv, **kw))

  add('sweep_seqlen only= matches nothing', launch(
      ctx, w('a'), config='configs/sweep_seqlen.py:quick,only=nomatch',
      tiny=False), not_created=w('a'))
  add('sweep_seqlen min_n above every point', launch(
      ctx, w('b'), config='configs/sweep_seqlen.py:quick,min_n=100000',
      tiny=False), not_created=w('b'))
  add('sweep_seqlen kinds=nonsense', launch(
      ctx, w('b2'), config='configs/sweep_seqlen.py:quick,kinds=nonsense',
      tiny=False), not_created=w('b2'))
  add('empty sweep (grid.product of an empty axis)', launch(
      ctx, w('c'), config=f'{sweep}:empty', tiny=False), not_created=w('c'),
      timeout=60)
  add('sweep point with an unknown field', launch(
      ctx, w('d'), config=f'{sweep}:badfield', tiny=False), not_created=w('d'))
  add('sweep point with a bad value', launch(
      ctx, w('e'), config=f'{sweep}:badvalue', tiny=False), not_created=w('e'))
  add('sweep points with one name twice', launch(
      ctx, w('f'), config=f'{sweep}:dup', tiny=False), not_created=w('f'))
  add('sweep point named ../escape', launch(
      ctx, w('g'), config=f'{sweep}:badname', tiny=False), not_created=w('g'))
  done = w('done')
  add('tiny sweep runs (baseline)', launch(ctx, done, config=f'{sweep}:one',
                                           tiny=False),
      expect='ok', codes=(0,),
      check=lambda out, err: None if os.path.exists(os.path.join(
          done, 'a', 'result.json')) else 'no a/result.json')
  add('rerun with a changed base config (lr)', launch(
      ctx, done, config=f'{sweep}:lr=0.005', tiny=False), unchanged=done)
  add('--sweep_commands with a changed base config', launch(
      ctx, done, config=f'{sweep}:lr=0.005', tiny=False,
      extra=['--sweep_commands']), unchanged=done)
  add('rerun of the finished sweep (skips, ok)', launch(
      ctx, done, config=f'{sweep}:one', tiny=False), expect='ok', codes=(0,),
      check=lambda out, err: None if 'ok' in out else 'no ok row')
  add('sweep with a failed point exits 1', launch(
      ctx, w('h'), config=f'{sweep}:corrupt={ctx.path("datasets", "all_corrupt")}',
      tiny=False), codes=(1,))
  # run_point, the command printed for cluster jobs.
  rp = ['-m', ctx.point_module]
  js = ctx.path('point_json')

  add('run_point without --config_json', [*rp, f'--workdir={w("p1")}'],
      not_created=w('p1'))
  add('run_point --config_json missing', [
      *rp, f'--config_json={js}/nope.json', f'--workdir={w("p2")}'],
      not_created=w('p2'))
  for name in ('list', 'truncated', 'badlr'):
    add(f'run_point --config_json {name}', [
        *rp, f'--config_json={js}/{name}.json', f'--workdir={w("p_" + name)}'],
        not_created=w('p_' + name))
  # Refused by run_point up to 79f7252; point jobs may predict since.
  add('run_point --config_json with mode=predict (ok or refused)', [
      *rp, f'--config_json={js}/predict.json', f'--workdir={w("p_predict")}'],
      expect='either', codes=(0, 2))
  add('run_point extra positional argument', [
      *rp, f'--config_json={js}/good.json', f'--workdir={w("p3")}',
      'extra'], not_created=w('p3'))
  add('run_point --workdir is a file', [
      *rp, f'--config_json={js}/good.json', f'--workdir={js}/list.json'],
      unchanged=f'{js}/list.json')
  return cases


def bench_cases(ctx: Ctx) -> list:
  cases = []
  bm = ['-m', ctx.benchmark_module, f'--config={DEFAULT}']

  def add(name, extra, **kw):
    cases.append(Case(name, 'bench', bm + extra, timeout=120, **kw))

  add('benchmark batch_size=0', ['--config.batch_size=0'])
  add('benchmark num_heads=3 (64 not divisible)',
      ['--config.model.transformer.num_heads=3'])
  add('benchmark patch_size=5', ['--config.model.patch_size=5'])
  add('benchmark attention foo', ['--config.model.attention.name=foo'])
  add('benchmark --steps=0', ['--steps=0'])
  add('benchmark --kind=foo', ['--kind=foo'])
  add('benchmark extra positional argument', ['extra'])
  add('benchmark unknown field', ['--config.model.attention.k=4'])
  cases.append(Case('benchmark missing --config', 'bench',
                    ['-m', ctx.benchmark_module]))
  w = ctx.path('wd', 'bench', 'mode')
  cases.append(Case('mode=benchmark, num_heads=3', 'bench', launch(
      ctx, w, {'mode': 'benchmark', 'model.hidden_size': '64',
               'model.transformer.num_heads': '3'}), not_created=w))
  cases.append(Case('mode=benchmark, benchmark.steps=0', 'bench', launch(
      ctx, w, {'mode': 'benchmark', 'benchmark.steps': '0'}), not_created=w))
  return cases


# ---------------------------------------------------------------------------
# Scenarios with a process running in the background.


def start_bg(ctx: Ctx, argv, name):
  cmd, env = command_for(ctx, argv, 'root')
  log_dir = ctx.path('bg')
  os.makedirs(log_dir, exist_ok=True)
  out = open(os.path.join(log_dir, name + '.out'), 'w')
  err = open(os.path.join(log_dir, name + '.err'), 'w')
  proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ctx.repo,
                          start_new_session=True)
  proc.logs = (out.name, err.name)
  proc.cmd = ' '.join(shlex.quote(a) for a in cmd)
  return proc


def read_logs(proc):
  texts = []
  for path in proc.logs:
    with open(path, errors='replace') as f:
      texts.append(f.read())
  return texts


def wait_for(condition, timeout):
  end = time.time() + timeout
  while time.time() < end:
    if condition():
      return True
    time.sleep(0.2)
  return False


def finish(proc, timeout=60):
  try:
    proc.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    kill_group(proc)
    proc.wait()
    return None
  return proc.returncode


def outcome_of(name, section, proc, rc, problems, start):
  out, err = read_logs(proc)
  return Outcome(name, section, proc.cmd, rc, out, err, problems,
                 time.time() - start)


INTERRUPT_WAIT_S = 30
RUNNING_NAMES = (
    'predict on a running run', 'second run in a busy workdir',
    'SIGTERM mid-training', 'SIGINT (Ctrl-C) mid-training',
    'SIGINT during compilation (after the model: line)',
    'SIGINT during start-up (1.5 s: imports, flags)')


def judge_interrupt(rc, out, err) -> list:
  """Ctrl-C: exit 130 with `SIGINT received: checkpoint saved at step N`
  (training had started) or one `error: interrupted ...` line."""
  if rc is None:
    return [f'still running {INTERRUPT_WAIT_S} s after Ctrl-C: the interrupt '
            'was ignored (killed by the pass)']
  if 'SIGINT received' in out:
    return judge('ok', (130,), rc, out, err)
  return judge('error', (130,), rc, out, err)


def running_scenarios(ctx: Ctx, want) -> list:
  """predict and a second run on a running run; SIGTERM; Ctrl-C."""
  results = []
  workdir = ctx.path('wd', 'running', 'run')
  long = {'total_steps': str(10**6), 'log_every_steps': '100',
          'checkpoint_every_steps': '100'}
  train_argv = launch(ctx, workdir, long)
  names = RUNNING_NAMES
  if not any(want(n) for n in names):
    return results
  start = time.time()
  trainer = start_bg(ctx, train_argv, 'trainer')
  try:
    ready = wait_for(lambda: ckpt_steps(workdir), 90)
    if not ready:
      out, err = read_logs(trainer)
      results.append(Outcome(names[0], 'running', trainer.cmd, trainer.poll(),
                             out, err, ['the background run never saved a '
                                        'checkpoint'], time.time() - start))
      return results
    with open(os.path.join(workdir, 'config.json'), 'rb') as f:
      record = f.read()

    def still_fine():
      problems = []
      if trainer.poll() is not None:
        problems.append(f'the running run died (exit {trainer.returncode})')
      with open(os.path.join(workdir, 'config.json'), 'rb') as f:
        if f.read() != record:
          problems.append('the running run\'s config.json was rewritten')
      return problems

    for name, overrides, expect, codes, chk in (
        (names[0], {**long, 'mode': 'predict'}, 'ok', (0,),
         expect_text(r'^predict: ', 'out')),
        (names[1], {**long, 'total_steps': str(2 * 10**6)}, 'error', (2,),
         expect_text(r'in use', 'err'))):
      if not want(name):
        continue
      t0 = time.time()
      cmd, env = command_for(ctx, launch(ctx, workdir, overrides), 'root')
      rc, out, err = execute(cmd, env, cwd=ctx.repo, timeout=90)
      problems = judge(expect, codes, rc, out, err,
                       (r'^warning: checkpoint \d+ .* cannot be read',)
                       if expect == 'ok' else ())
      problems += still_fine()
      problem = chk(out, err) if rc is not None else None
      if problem:
        problems.append(problem)
      results.append(Outcome(name, 'running', ' '.join(map(shlex.quote, cmd)),
                             rc, out, err, problems, time.time() - t0))
    if want(names[2]):
      t0 = time.time()
      trainer.send_signal(signal.SIGTERM)
      rc = finish(trainer)
      out, _ = read_logs(trainer)
      problems = judge('ok', (0,), rc, *read_logs(trainer))
      m = re.search(r'SIGTERM received: checkpoint saved at step (\d+)', out)
      if not m:
        problems.append('no "SIGTERM received: checkpoint saved" line')
      elif int(m.group(1)) not in ckpt_steps(workdir):
        problems.append(f'checkpoint {m.group(1)} is not in checkpoints/')
      results.append(outcome_of(names[2], 'running', trainer, rc, problems,
                                t0))
    else:
      trainer.send_signal(signal.SIGTERM)
      finish(trainer)
    if want(names[3]):
      t0 = time.time()
      resumed = start_bg(ctx, train_argv, 'resumed')
      # Interrupt once training steps run again (a progress line past the
      # resume point).
      ok = wait_for(lambda: resumed.poll() is not None or re.search(
          r'^step \d+/', read_logs(resumed)[0], re.M), 90)
      resumed.send_signal(signal.SIGINT)
      rc = finish(resumed, timeout=INTERRUPT_WAIT_S)
      out, err = read_logs(resumed)
      problems = judge_interrupt(rc, out, err)
      if not ok:
        problems.append('the resumed run showed no progress line')
      if 'resumed from step' not in out:
        problems.append('did not resume from the SIGTERM checkpoint')
      m = re.search(r'SIGINT received: checkpoint saved at step (\d+)', out)
      if not m:
        problems.append('no "SIGINT received: checkpoint saved" line')
      elif int(m.group(1)) not in ckpt_steps(workdir):
        problems.append(f'checkpoint {m.group(1)} is not in checkpoints/')
      repeated = repeated_metric_steps(workdir)
      if repeated:
        problems.append(f'metrics.jsonl holds steps twice after the resume: '
                        f'{repeated[:5]}')
      results.append(outcome_of(names[3], 'running', resumed, rc, problems,
                                t0))
    for i, (name, ready_when) in enumerate((
        (names[4], lambda p: re.search(r'^model: ', read_logs(p)[0], re.M)),
        (names[5], lambda p: (time.sleep(1.5), True)[1]))):
      if not want(name):
        continue
      t0 = time.time()
      fresh = ctx.path('wd', 'running', f'interrupted_{i}')
      proc = start_bg(ctx, launch(ctx, fresh, long), f'interrupted_{i}')
      reached = wait_for(lambda p=proc: p.poll() is not None or ready_when(p),
                         90)
      proc.send_signal(signal.SIGINT)
      rc = finish(proc, timeout=INTERRUPT_WAIT_S)
      out, err = read_logs(proc)
      problems = judge_interrupt(rc, out, err)
      if not reached:
        problems.append('the phase to interrupt was never reached')
      results.append(outcome_of(name, 'running', proc, rc, problems, t0))
  finally:
    for p in [trainer]:
      if p.poll() is None:
        kill_group(p)
        p.wait()
  return results


def repeated_metric_steps(workdir) -> list:
  """Steps logged more than once (train rows) in WORKDIR/metrics.jsonl."""
  seen, repeated = set(), []
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      try:
        row = json.loads(line)
      except ValueError:
        continue
      if 'train/loss' in row:
        if row['step'] in seen:
          repeated.append(row['step'])
        seen.add(row['step'])
  return repeated


def disk_full_scenario(ctx: Ctx, want) -> list:
  """The disk fills up while a run trains (a tmpfs filled by this pass):
  one error line, exit 2, the checkpoints saved before still there."""
  name = 'disk full mid-run (tmpfs filled)'
  if not want(name):
    return []
  mount = ctx.path('tmpfs')
  os.makedirs(mount, exist_ok=True)
  t0 = time.time()
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs',
                            mount], capture_output=True, text=True)
  if mounted.returncode:
    return [Outcome(name, 'workdir', 'mount -t tmpfs ...', None, '', '', [],
                    0.0, skipped=f'cannot mount a tmpfs: '
                    f'{mounted.stderr.strip()[:100]}')]
  workdir = os.path.join(mount, 'run')
  proc = None
  try:
    proc = start_bg(ctx, launch(ctx, workdir, {
        'total_steps': str(10**6), 'log_every_steps': '50',
        'checkpoint_every_steps': '50'}), 'disk_full')
    problems = []
    if not wait_for(lambda: len(ckpt_steps(workdir)) >= 2
                    or proc.poll() is not None, 90):
      problems.append('no checkpoint before the disk was filled')
    before = ckpt_steps(workdir)
    with open(os.path.join(mount, 'filler'), 'wb') as f:
      try:
        while True:
          f.write(b'\0' * 65536)
          f.flush()
      except OSError:
        pass
    rc = finish(proc, timeout=60)
    out, err = read_logs(proc)
    problems += judge('error', (2,), rc, out, err)
    after = ckpt_steps(workdir)
    if before and before[-1] not in after:
      problems.append(f'checkpoints before the fill {before}, after {after}')
    return [outcome_of(name, 'workdir', proc, rc, problems, t0)]
  finally:
    if proc is not None and proc.poll() is None:
      kill_group(proc)
      proc.wait()
    subprocess.run(['umount', mount], capture_output=True)


def processes_mentioning(text):
  found = []
  for pid in os.listdir('/proc'):
    if not pid.isdigit() or int(pid) == os.getpid():
      continue
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
      continue
    if text in cmdline:
      found.append(int(pid))
  return found


def sweep_signal_scenario(ctx: Ctx, want) -> list:
  name = 'SIGTERM to the sweep runner mid-point'
  if not want(name):
    return []
  t0 = time.time()
  sweep_dir = ctx.path('wd', 'sweep', 'signalled')
  runner = start_bg(ctx, launch(
      ctx, sweep_dir, config=ctx.path('configs', 'tiny_sweep.py') + ':long',
      tiny=False), 'sweep_runner')
  try:
    ready = wait_for(lambda: ckpt_steps(os.path.join(sweep_dir, 'a')), 120)
    runner.send_signal(signal.SIGTERM)
    rc = finish(runner, timeout=90)
    out, err = read_logs(runner)
    problems = judge('ok', (0,), rc, out, err)
    if not ready:
      problems.append('the point never saved a checkpoint before the signal')
    if not re.search(r'SIGTERM received: sweep stopped', out):
      problems.append('no "SIGTERM received: sweep stopped" line')
    time.sleep(1.0)
    orphans = processes_mentioning(sweep_dir)
    if orphans:
      problems.append(f'orphan process(es) still running: {orphans}')
      for pid in orphans:
        try:
          os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
    result = os.path.join(sweep_dir, 'a', 'result.json')
    status = None
    if os.path.exists(result):
      with open(result) as f:
        status = json.load(f).get('status')
    if status != 'preempted':
      problems.append(f'point result status {status!r}, expected preempted')
    return [outcome_of(name, 'sweep', runner, rc, problems, t0)]
  finally:
    if runner.poll() is None:
      kill_group(runner)
      runner.wait()


# ---------------------------------------------------------------------------


def probe_nobody(ctx: Ctx) -> str:
  """'' if an unprivileged child can run the project, else why not."""
  home = ctx.path('nobody_home')
  os.makedirs(home, exist_ok=True)
  os.chmod(home, 0o777)
  if os.geteuid() != 0:
    return 'not root: permission cases run as this user are not needed'
  if not shutil.which('setpriv') or not os.path.exists(SYSTEM_PYTHON):
    return f'setpriv or {SYSTEM_PYTHON} missing'
  cmd, env = command_for(ctx, ['-c', 'import jax, vit_jax, orbax.checkpoint, '
                               'tensorflow_datasets; print("ok")'], 'nobody')
  rc, out, err = execute(cmd, env, cwd=ctx.repo, timeout=60)
  if rc != 0 or 'ok' not in out:
    return ('an unprivileged child cannot import the project: '
            + (nonempty_lines(err) or ['?'])[-1][:100])
  return ''


def make_point_jsons(ctx: Ctx):
  """--config_json files for run_point: the template's (good) record and
  broken variants of it."""
  js = ctx.path('point_json')
  os.makedirs(js, exist_ok=True)
  with open(os.path.join(ctx.template, 'config.json')) as f:
    good = json.load(f)
  for name, value in (
      ('good', good), ('list', [1, 2, 3]),
      ('badlr', {**good, 'lr': {**good['lr'], 'base': -1.0}}),
      ('predict', {**good, 'mode': 'predict'})):
    with open(os.path.join(js, name + '.json'), 'w') as f:
      json.dump(value, f)
  with open(os.path.join(js, 'truncated.json'), 'w') as f:
    f.write(json.dumps(good)[:50])


def prepare(ctx: Ctx):
  """Scratch dir, digits in SCRATCH/data, a finished tiny run (template)."""
  subprocess.run(['umount', ctx.path('tmpfs')], capture_output=True)
  if os.path.exists(ctx.scratch):
    chmod_tree(ctx.scratch, 0o755)
    shutil.rmtree(ctx.scratch)
  os.makedirs(ctx.scratch)
  os.chmod(ctx.scratch, 0o755)
  write_scratch_configs(ctx)
  make_datasets(ctx)
  os.makedirs(ctx.path('wd_nobody'))
  os.chmod(ctx.path('wd_nobody'), 0o777)
  cmd, env = command_for(ctx, launch(ctx, ctx.template), 'root')
  rc, out, err = execute(cmd, env, cwd=ctx.repo, timeout=300)
  if rc != 0 or ckpt_steps(ctx.template) != [2, 4]:
    sys.exit(f'could not make the template run (exit {rc}):\n{err[-3000:]}')
  make_point_jsons(ctx)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--scratch', default='/tmp/bad_input_pass')
  parser.add_argument('--repo', default=REPO,
                      help='checkout whose entry points run (default: this '
                      'one); the interpreter stays --python')
  parser.add_argument('--python', default=os.path.join(REPO, '.venv', 'bin',
                                                       'python'))
  parser.add_argument('--only', default='',
                      help='regex: run only the cases whose section/name '
                      'matches')
  parser.add_argument('--list', action='store_true')
  parser.add_argument('--thorough', action='store_true',
                      help='numeric fields: a negative value as well where '
                      'zero (the boundary of the same rule) is tested')
  args = parser.parse_args()
  ctx = Ctx(repo=os.path.abspath(args.repo), python=args.python,
            scratch=os.path.abspath(args.scratch))

  cases = (config_cases(ctx, args.thorough) + data_cases(ctx) + workdir_cases(ctx)
           + cli_cases(ctx) + sweep_cases(ctx) + bench_cases(ctx))
  want = lambda name, section='': bool(
      re.search(args.only, f'{section}/{name}', re.I)) if args.only else True
  selected = [c for c in cases if want(c.name, c.section)]
  if args.list:
    for c in cases:
      print(f'{c.section:8} {c.name}')
    for n in RUNNING_NAMES:
      print(f'{"running":8} {n}')
    print(f'{"sweep":8} SIGTERM to the sweep runner mid-point')
    print(f'{"workdir":8} disk full mid-run (tmpfs filled)')
    return 0

  t_start = time.time()
  print(f'repo {ctx.repo}; scratch {ctx.scratch}; preparing...', flush=True)
  prepare(ctx)
  nobody = probe_nobody(ctx)
  if nobody:
    print(f'permission cases skipped: {nobody}')
  outcomes = []
  header = f'{"case":62} {"exit":>4}  {"verdict":7} first stderr line'
  print(header)
  print('-' * len(header))

  def show(o: Outcome):
    first = (nonempty_lines(o.stderr) or [''])[0]
    rc = 'T/O' if o.rc is None and not o.skipped else (
        '-' if o.rc is None else str(o.rc))
    label = f'{o.section}/{o.name}'
    print(f'{label[:62]:62} {rc:>4}  {o.verdict:7} {first[:110]}', flush=True)

  for case in selected:
    o = run_case(ctx, case, nobody)
    outcomes.append(o)
    show(o)
  for o in running_scenarios(ctx, lambda n: want(n, 'running')):
    outcomes.append(o)
    show(o)
  for o in sweep_signal_scenario(ctx, lambda n: want(n, 'sweep')):
    outcomes.append(o)
    show(o)
  for o in disk_full_scenario(ctx, lambda n: want(n, 'workdir')):
    outcomes.append(o)
    show(o)

  counted = [o for o in outcomes if not o.skipped]
  good = [o for o in counted if not o.problems]
  broken = [o for o in counted if o.problems]
  if broken:
    print('\nBroken promises:')
  for o in broken:
    print(f'\n== {o.section}/{o.name}\n$ {o.command}\nexit: '
          f'{"timeout" if o.rc is None else o.rc}\nwhat broke: '
          f'{"; ".join(o.problems)}')
    lines = o.stderr.splitlines()
    print('stderr' + (f' (first 15 of {len(lines)} lines)'
                      if len(lines) > 15 else '') + ':')
    for line in lines[:15]:
      print('  ' + line[:300])
    if len(lines) > 15:
      print('  ...')
      for line in lines[-4:]:
        print('  ' + line[:300])
    if not lines:
      print('  (empty); stdout tail: ' + ' | '.join(
          nonempty_lines(o.stdout)[-3:])[:300])
  skipped = [o for o in outcomes if o.skipped]
  if skipped:
    print(f'\n{len(skipped)} case(s) not run: {skipped[0].skipped}')
  by_section = {}
  for o in counted:
    total, ok, seconds = by_section.get(o.section, (0, 0, 0.0))
    by_section[o.section] = (total + 1, ok + (not o.problems),
                             seconds + o.seconds)
  print('\nby section: ' + ', '.join(
      f'{s} {ok}/{t} ({sec:.0f} s)' for s, (t, ok, sec) in by_section.items()))
  print(f'{time.time() - t_start:.0f} s')
  print(f'{len(good)}/{len(counted)} as promised')
  return 1 if broken else 0


if __name__ == '__main__':
  sys.exit(main())
