r"""Kills a tiny training run at chosen points of its progress and checks that
resuming it gives exactly the result of an uninterrupted run.

  python experiments/kill_resume.py --trials=20                # kill -9
  python experiments/kill_resume.py --trials=10 --signal=TERM  # preemption
  # Any other config, e.g. the seq2seq model (the schedule is appended):
  python experiments/kill_resume.py --trials=5 --run_flags=\
--config=configs/reversal.py:additive,--config.model.encoder_dim=16,\
--config.model.decoder_dim=32,--config.batch_size=16

Each trial starts `launch.py` on a tiny digits config (8x8 images, 1 layer,
dropout on, 1,500 steps, a checkpoint every 100 steps, a progress line every
10 steps) and signals it up to --kills_per_trial times, each time at a point
of its training progress rather than of wall time (a loaded machine stretches
start-up, so wall-time kills often land after the run has finished):

  step N   when the run's progress line reaches step N (N uniform over the
           steps it has left);
  start-up at a uniform time before the first step (imports, restore,
           compilation);
  save     as soon as orbax's temporary folder of a checkpoint appears (the
           asynchronous save is in flight);
  end      once the final checkpoint is complete (later kills of a trial
           only; the run has nothing left to train).

Each signal is classified by what it interrupted, from the state of
WORKDIR/checkpoints when it was sent (for KILL: when the process died):
`before first checkpoint`, `mid-run` (between checkpoints, including a
resumed run's start-up), `mid-save` (a checkpoint's temporary folder made by
this process exists), `after last save`, or `missed` (the process had
already exited). A trial is interrupted when one of its signals stopped the
run before its final checkpoint was complete. Then the same command runs once
more, undisturbed, and must finish; the trial is identical when the final
parameters and optimizer state (bit for bit) and the final test metrics equal
those of the uninterrupted reference run. Rows that metrics.jsonl holds twice
are noted, not counted as a difference.

Prints one line per trial, then the per-phase counts, the number of
interrupted trials and `N/N identical`. Exits 1 if a trial differs or fails,
or if fewer than --min_interrupted trials were interrupted.

Expected runtime on the 2-core CPU machine: ~20 s per trial, mostly the
launches' start-up: ~7 min for --trials=20, ~3 min for --signal=TERM
--trials=10. Expected result: `interrupted mid-run: 20/20 trials`,
`20/20 identical`, exit 0. On that machine an asynchronous save of the tiny
state stays in flight for tens of steps, so many step-aimed kills count as
mid-save.
"""

import dataclasses
import json
import math
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from absl import app
from absl import flags

_TRIALS = flags.DEFINE_integer('trials', 20, 'Number of killed runs.')
_SIGNAL = flags.DEFINE_enum('signal', 'KILL', ['KILL', 'TERM'],
                            'Signal sent to the run.')
_KILLS = flags.DEFINE_integer('kills_per_trial', 2,
                              'At most this many signals per trial.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/kill_resume',
                               'Scratch directory (emptied first).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the kill points.')
_RUN_FLAGS = flags.DEFINE_list(
    'run_flags', None,
    'launch.py flags of the run to kill instead of the tiny ViT (the '
    'schedule flags are appended), e.g. --run_flags=--config=configs/'
    'reversal.py:additive,--config.model.encoder_dim=16,'
    '--config.batch_size=16')
_MIN_INTERRUPTED = flags.DEFINE_integer(
    'min_interrupted', None,
    'Fail unless at least this many trials were really interrupted '
    '(default: 90% of --trials, e.g. 18 of 20).')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 300  # Per launch; a warm run takes ~10 s, more under load.
POLL_S = 0.002  # A tiny checkpoint's save is in flight for only ~10-100 ms.
TOTAL_STEPS = 1500
CHECKPOINT_EVERY = 100
TINY_MODEL = [
    '--config=configs/default.py:full', '--config.image_size=8',
    '--config.model.patch_size=4', '--config.model.hidden_size=16',
    '--config.model.transformer.num_layers=1',
    '--config.model.transformer.num_heads=2',
    '--config.model.transformer.mlp_dim=16',
    '--config.model.transformer.dropout_rate=0.1',
    '--config.batch_size=16', '--config.eval_batch_size=64',
]
# The schedule the kills are aimed at; appended to any --run_flags.
SCHEDULE = [
    f'--config.total_steps={TOTAL_STEPS}',
    f'--config.checkpoint_every_steps={CHECKPOINT_EVERY}',
    # A progress line every 10 steps (~25 ms) is what the kills aim at.
    '--config.log_every_steps=10', '--config.eval_every_steps=750',
    '--config.max_to_keep=20',  # Keeps every checkpoint: none is deleted.
]
TINY = TINY_MODEL + SCHEDULE
_STEP_LINE = re.compile(rb'^step (\d+)/\d+ ')
_FINAL_LINE = re.compile(rb'^final .* at step \d+')  # 'final test accuracy ...'
_TMP_MARK = '.orbax-checkpoint-tmp'

BEFORE_FIRST = 'before first checkpoint'
MID_RUN = 'mid-run'
MID_SAVE = 'mid-save'
AFTER_LAST = 'after last save'
MISSED = 'missed'
PHASES = (BEFORE_FIRST, MID_RUN, MID_SAVE, AFTER_LAST, MISSED)
# Signals in these phases stop a run that still had training or saving to do.
INTERRUPTING = (BEFORE_FIRST, MID_RUN, MID_SAVE)

# Run in a child with cwd=ROOT, so vit_jax imports from the checkout and this
# script needs neither JAX nor a sys.path entry. Prints, per workdir read on
# stdin, one JSON line: a digest of every leaf of the latest checkpoint's state.
_DIGEST_CODE = r'''
import hashlib, json, sys
import jax, numpy as np
from vit_jax.training import trainer
for line in sys.stdin:
  try:
    _, state = trainer.load_state(line.strip())
    leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(state))
    out = {jax.tree_util.keystr(p): hashlib.sha256(
        f'{x.dtype}{x.shape}'.encode() + np.ascontiguousarray(x).tobytes()
    ).hexdigest() for p, x in ((p, np.asarray(x)) for p, x in leaves)}
  except Exception as e:
    out = {'error': f'{type(e).__name__}: {e}'}
  print('DIGEST ' + json.dumps(out), flush=True)
'''


@dataclasses.dataclass(frozen=True)
class Aim:
  """Where a signal should land: kind 'startup' (value: seconds after the
  launch), 'step' (value: a step), 'save' (value: the first checkpoint step
  whose save may be hit) or 'end'."""
  kind: str
  value: float = 0

  def __str__(self) -> str:
    return {'startup': f'start-up +{self.value:.1f} s', 'step':
            f'step {int(self.value)}', 'save': f'save >= {int(self.value)}',
            'end': 'end'}[self.kind]


@dataclasses.dataclass
class Attempt:
  """What one launch did."""
  code: int | None  # None: timed out (and was killed).
  phase: str | None = None  # Of the signal; None if none was sent.
  logged_step: int | None = None  # Last progress line before the signal.
  finished: bool = False  # Printed its final line (test accuracy).
  first_step_s: float | None = None  # From launch to the first step line.
  wall_s: float = 0.0


def _command(workdir: str, data_dir: str) -> list[str]:
  run = (_RUN_FLAGS.value + SCHEDULE) if _RUN_FLAGS.value else TINY
  return [sys.executable, 'launch.py', *run, f'--config.data_dir={data_dir}',
          f'--workdir={workdir}']


def _env(cache_dir: str) -> dict[str, str]:
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             # Same executables in every process: faster, results unchanged.
             JAX_COMPILATION_CACHE_DIR=cache_dir,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  env.pop('XLA_FLAGS', None)
  return env


def _checkpoints(workdir: str) -> tuple[set[int], set[str]]:
  """(complete checkpoint steps, temporary folder names) in the workdir."""
  try:
    names = os.listdir(os.path.join(workdir, 'checkpoints'))
  except FileNotFoundError:
    return set(), set()
  return ({int(n) for n in names if n.isdigit()},
          {n for n in names if _TMP_MARK in n})


def _tmp_step(name: str) -> int:
  return int(name.split('.', 1)[0]) if name[0].isdigit() else -1


def _phase(complete: set[int], new_tmp: set[str]) -> str:
  """The phase a signal lands in, from the checkpoint folder's state.

  Args:
    complete: steps of the complete checkpoints.
    new_tmp: temporary folders of saves started by the running process.

  Returns:
    One of PHASES other than MISSED.
  """
  if new_tmp:
    return MID_SAVE
  if TOTAL_STEPS in complete:
    return AFTER_LAST
  return MID_RUN if complete else BEFORE_FIRST


class _Output:
  """Copies a child's output to its log and notes its progress lines."""

  def __init__(self, process: subprocess.Popen, log) -> None:
    self.step: int | None = None
    self.first_step_at: float | None = None  # time.monotonic() of it.
    self.finished = False
    self._thread = threading.Thread(target=self._read,
                                    args=(process.stdout, log), daemon=True)
    self._thread.start()

  def _read(self, stream, log) -> None:
    for line in iter(stream.readline, b''):
      log.write(line)
      log.flush()
      match = _STEP_LINE.match(line)
      if match:
        self.step = int(match.group(1))
        self.first_step_at = self.first_step_at or time.monotonic()
      elif _FINAL_LINE.match(line):
        self.finished = True

  def join(self) -> None:
    self._thread.join(timeout=10)


def _reached(aim: Aim, out: _Output, elapsed: float, workdir: str,
             stale: set[str]) -> bool:
  """Whether the running process has reached `aim`.

  Args:
    aim: where to signal.
    out: the process's output so far.
    elapsed: seconds since it was launched.
    workdir: its workdir.
    stale: temporary checkpoint folders that were there before it started.
  """
  if aim.kind == 'startup':
    return elapsed >= aim.value or out.step is not None
  if aim.kind == 'step':
    return out.step is not None and out.step >= aim.value
  complete, tmp = _checkpoints(workdir)
  if aim.kind == 'end':
    return TOTAL_STEPS in complete
  # 'save': orbax's temporary folder of a due checkpoint. A save missed three
  # times running (a very short one) falls back to a kill mid-run.
  return (any(_tmp_step(n) >= aim.value for n in tmp - stale)
          or (out.step or 0) >= aim.value + 3 * CHECKPOINT_EVERY
          or TOTAL_STEPS in complete)


def _launch(command: list[str], env: dict[str, str], log_path: str,
            workdir: str, aim: Aim | None = None,
            sig: signal.Signals = signal.SIGKILL) -> Attempt:
  """Runs `command` to its end, signalling it when `aim` is reached.

  Args:
    command: the launch.py command line.
    env: its environment.
    log_path: file its output is appended to.
    workdir: the run's workdir (its checkpoints are watched).
    aim: where to send `sig`; None runs the command undisturbed.
    sig: the signal.

  Returns:
    What happened; `code` is None if it ran past TIMEOUT_S (then killed).
  """
  start = time.monotonic()
  stale = _checkpoints(workdir)[1]  # Left by an earlier kill mid-save.
  with open(log_path, 'ab') as log:
    log.write(f'=== launch, aim: {aim or "none"}\n'.encode())
    log.flush()
    process = subprocess.Popen(command, cwd=ROOT, env=env,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    out = _Output(process, log)
    attempt = Attempt(code=None)
    try:
      while aim is not None and process.poll() is None:
        elapsed = time.monotonic() - start
        if elapsed > TIMEOUT_S:
          raise subprocess.TimeoutExpired(command, TIMEOUT_S)
        if _reached(aim, out, elapsed, workdir, stale):
          break
        time.sleep(POLL_S)
      if aim is not None:
        # Snapshot, then signal. A process that exits after the poll stays
        # a zombie until waited for, so the signal hits nothing else; its
        # exit code then tells the miss (below, for KILL).
        attempt.logged_step = out.step
        complete, tmp = _checkpoints(workdir)
        alive = process.poll() is None
        if alive:
          process.send_signal(sig)
        attempt.phase = _phase(complete, tmp - stale) if alive else MISSED
      process.wait(timeout=max(1.0, TIMEOUT_S - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
      out.join()
      return attempt
    out.join()
    process.stdout.close()
  attempt.code = process.returncode
  attempt.finished = out.finished
  attempt.wall_s = time.monotonic() - start
  if out.first_step_at is not None:
    attempt.first_step_s = out.first_step_at - start
  if aim is not None and attempt.phase != MISSED:
    if sig == signal.SIGKILL:
      # Exact: the folder holds what the process left when it died.
      complete, tmp = _checkpoints(workdir)
      attempt.phase = (_phase(complete, tmp - stale)
                       if attempt.code == -signal.SIGKILL else MISSED)
  return attempt


def _interrupted(attempt: Attempt) -> bool:
  """Whether the signal stopped a run that still had steps or a save to do."""
  if attempt.phase not in INTERRUPTING:
    return False
  # A TERM during the final save is noted but the run ends normally.
  return not (attempt.code == 0 and attempt.finished)


class _Digests:
  """A child process that digests the latest checkpoint of a workdir (one
  process for all trials: importing JAX takes seconds)."""

  def __init__(self, env: dict[str, str], log_path: str) -> None:
    self._log = open(log_path, 'ab')
    self._process = subprocess.Popen(
        [sys.executable, '-c', _DIGEST_CODE], cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        text=True)
    self._lines = queue.Queue()
    threading.Thread(target=self._read, daemon=True).start()

  def _read(self) -> None:
    for line in self._process.stdout:
      if line.startswith('DIGEST '):
        self._lines.put(json.loads(line[len('DIGEST '):]))
    self._lines.put({'error': 'the digest process exited'})

  def __call__(self, workdir: str) -> dict[str, str]:
    try:
      self._process.stdin.write(workdir + '\n')
      self._process.stdin.flush()
      return self._lines.get(timeout=TIMEOUT_S)
    except (OSError, queue.Empty) as e:
      return {'error': f'the digest process failed ({e!r})'}

  def close(self) -> None:
    try:
      self._process.stdin.close()
      self._process.wait(timeout=60)
    except (OSError, subprocess.TimeoutExpired):
      self._process.kill()
      self._process.wait()
    self._log.close()


def _final_test_row(workdir: str) -> tuple[dict | None, list[str]]:
  """(last test metrics row, notes on rows logged twice) of metrics.jsonl."""
  try:
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      rows = [json.loads(line) for line in f if line.strip()]
  except (OSError, ValueError):
    return None, ['metrics.jsonl unreadable']
  tests = [r for r in rows if any(k.startswith('test/') for k in r)]
  keys = [(r['step'], tuple(sorted(r))) for r in rows]
  twice = sorted({k[0] for k in keys if keys.count(k) > 1})
  notes = [f'metrics.jsonl repeats step(s) {twice}'] if twice else []
  return (tests[-1] if tests else None), notes


def _differences(result, reference) -> list[str]:
  """What differs from the reference: the test metrics, then state arrays."""
  (row, leaves), (ref_row, ref_leaves) = result, reference
  if 'error' in leaves:
    return [leaves['error']]
  diffs = []
  if row != ref_row:
    diffs.append(f'test metrics {row}')
  arrays = [k for k in sorted(ref_leaves.keys() | leaves.keys())
            if leaves.get(k) != ref_leaves.get(k)]
  if arrays:
    diffs.append(f'{len(arrays)} of {len(ref_leaves)} state arrays (first: '
                 f'{arrays[0]})')
  return diffs


def _aims(rng: random.Random, kills: int) -> list[Aim]:
  """The trial's aims; later ones are relative to where the run resumes."""
  aims = []
  for i in range(kills):
    # 'end' only after a first signal, so that every trial can be
    # interrupted; the step fraction is mapped onto the steps left later.
    kinds, weights = (['step', 'startup', 'save', 'end'],
                      [0.55, 0.15, 0.2, 0.1 if i else 0.0])
    kind = rng.choices(kinds, weights)[0]
    aims.append(Aim(kind, rng.random()))
  return aims


def _placed(aim: Aim, resumed_from: int, startup_s: float) -> Aim:
  """An aim with its fraction turned into seconds, a step or a checkpoint."""
  left = TOTAL_STEPS - resumed_from
  if aim.kind == 'startup':
    return Aim('startup', aim.value * startup_s)
  if aim.kind == 'step':
    return Aim('step', resumed_from + 1 + math.floor(aim.value * left))
  if aim.kind == 'save':
    saves = left // CHECKPOINT_EVERY
    first = resumed_from - resumed_from % CHECKPOINT_EVERY + CHECKPOINT_EVERY
    return Aim('save', first + CHECKPOINT_EVERY * math.floor(aim.value * saves))
  return aim


def _describe(aim: Aim, attempt: Attempt, sig_name: str, workdir: str) -> str:
  """One signal's part of a trial line: aim, progress, phase, outcome."""
  at = ('start-up' if attempt.logged_step is None
        else f'step {attempt.logged_step}')
  if attempt.code is None:
    outcome = 'TIMEOUT'
  else:
    outcome = f'exit {attempt.code}'
    if attempt.phase not in (MISSED, None) and not _interrupted(attempt) and (
        attempt.code == 0):
      outcome += ' (finished anyway)'
  complete = _checkpoints(workdir)[0]
  return (f'{sig_name} aim {aim} -> at {at}, {attempt.phase}, {outcome}, '
          f'checkpoint {max(complete, default=None)}')


def main(argv):
  del argv
  trials = _TRIALS.value
  min_interrupted = _MIN_INTERRUPTED.value
  if min_interrupted is None:
    min_interrupted = math.ceil(0.9 * trials)
  base = os.path.abspath(_WORKDIR.value)
  shutil.rmtree(base, ignore_errors=True)
  os.makedirs(base)
  data_dir, env = os.path.join(base, 'data'), _env(os.path.join(base, 'cache'))
  sig = getattr(signal, f'SIG{_SIGNAL.value}')
  sig_name = _SIGNAL.value.lower()
  rng = random.Random(_SEED.value)
  began = time.monotonic()

  reference_dir = os.path.join(base, 'reference')
  reference_log = os.path.join(base, 'reference.log')
  # The first run also prepares the data and fills the compilation cache;
  # the second one is timed as every trial's launch will be.
  for _ in range(2):
    shutil.rmtree(reference_dir, ignore_errors=True)
    ref = _launch(_command(reference_dir, data_dir), env, reference_log,
                  reference_dir)
    if ref.code != 0 or not ref.finished:
      sys.exit(f'error: the reference run failed (exit {ref.code}); see '
               f'{reference_log}')
  startup_s = ref.first_step_s
  digests = _Digests(env, os.path.join(base, 'digests.log'))
  reference = (_final_test_row(reference_dir)[0], digests(reference_dir))
  if reference[0] is None or 'error' in reference[1]:
    sys.exit(f'error: reading the reference: no test metrics row or '
             f'{reference[1].get("error")}')
  test_metrics = ', '.join(
      f'{k} {v:.4f}' for k, v in sorted(reference[0].items())
      if k.startswith('test/') and isinstance(v, (int, float)))
  print(f'reference: uninterrupted run {ref.wall_s:.1f} s ({startup_s:.1f} s '
        f'to the first step), {test_metrics}, {len(reference[1])} state '
        'arrays', flush=True)

  phases = dict.fromkeys(PHASES, 0)
  same = interrupted = 0
  for trial in range(trials):
    workdir = os.path.join(base, f'trial_{trial:02d}')
    log = os.path.join(base, f'trial_{trial:02d}.log')
    events, was_interrupted, failed = [], False, None
    for aim in _aims(rng, rng.randint(1, _KILLS.value)):
      resumed_from = max(_checkpoints(workdir)[0], default=0)
      if resumed_from == TOTAL_STEPS:
        break  # Nothing left to interrupt.
      aim = _placed(aim, resumed_from, startup_s)
      attempt = _launch(_command(workdir, data_dir), env, log, workdir, aim,
                        sig)
      if attempt.phase:  # None: it timed out before the aim.
        phases[attempt.phase] += 1
      was_interrupted |= _interrupted(attempt)
      events.append(_describe(aim, attempt, sig_name, workdir))
      if attempt.code is None:
        failed = 'timed out'
        break
    if failed is None:
      final = _launch(_command(workdir, data_dir), env, log, workdir)
      if final.code != 0 or not final.finished:
        failed = ('timed out' if final.code is None
                  else f'exit {final.code}, see {log}')
    notes = []
    if failed is None:
      row, notes = _final_test_row(workdir)
      diffs = _differences((row, digests(workdir)), reference)
      failed = f'DIFFERENT: {"; ".join(diffs)}' if diffs else None
    same += failed is None
    interrupted += was_interrupted
    print(f'trial {trial + 1:2d}: {"; ".join(events)}; resumed to the end: '
          f'{failed or "identical"}'
          + ''.join(f' (note: {n})' for n in notes), flush=True)
  digests.close()

  print('signals by phase: ' + ', '.join(f'{p} {n}' for p, n in phases.items()),
        flush=True)
  print(f'interrupted mid-run: {interrupted}/{trials} trials (at least '
        f'{min_interrupted} required)', flush=True)
  print(f'{same}/{trials} identical', flush=True)
  print(f'wall time {time.monotonic() - began:.0f} s', flush=True)
  sys.exit(0 if same == trials and interrupted >= min_interrupted else 1)


if __name__ == '__main__':
  app.run(main)
