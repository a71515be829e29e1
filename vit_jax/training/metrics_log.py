"""Where metrics go: WORKDIR/metrics.jsonl, TensorBoard events, the terminal.

Only the writing process (process 0) writes; the others get a logger that
drops everything, so callers need no `if`.

A resumed run first drops the rows past the step it resumed from (they were
logged by a run killed after its last checkpoint, and those steps are run
again), in metrics.jsonl and, through TensorBoard's purge step, in the event
files, so each step appears once. `read_metrics` reads the rows back.
"""

import json
import math
import os
import time
from typing import Mapping, Optional

from tensorboardX import SummaryWriter

from vit_jax.errors import WriteError
from vit_jax.training import workdir as workdir_lib


METRICS_FILE = 'metrics.jsonl'


def read_metrics(workdir: str) -> list[dict]:
  """The rows of WORKDIR/metrics.jsonl (one dict per logged step and kind)."""
  with open(os.path.join(workdir, METRICS_FILE)) as f:
    return [json.loads(line) for line in f if line.strip()]


def _drop_rows_after(path: str, step: int) -> None:
  """Rewrites `path` (atomically) without rows of steps after `step`."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      if json.loads(line)['step'] > step:
        continue
    except (ValueError, KeyError, TypeError):
      if not line.endswith('\n'):
        continue  # A row cut short by a kill mid-write.
    kept.append(line if line.endswith('\n') else line + '\n')
  if len(kept) == len(lines) and all(l.endswith('\n') for l in lines):
    return
  workdir_lib.write_atomic(path, ''.join(kept))


def _duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class MetricsLogger:
  """Appends one JSON object per logged step and prints a progress line."""

  def __init__(self, workdir: str, *, total_steps: int, is_writer: bool,
               resume_step: int = 0):
    self._workdir = workdir
    self._total_steps = total_steps
    self._is_writer = is_writer
    self._jsonl = None
    self._tb: Optional[SummaryWriter] = None
    self._start: Optional[tuple[float, int]] = None  # (time, step) of first log.
    if is_writer:
      path = os.path.join(workdir, METRICS_FILE)
      try:
        _drop_rows_after(path, resume_step)
        # Appended: a resumed run adds to its own history.
        self._jsonl = open(path, 'a')
        self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'),
                                 purge_step=resume_step + 1)
      except WriteError:  # Already one line naming the file.
        raise
      except OSError as e:
        raise WriteError(f'cannot write to workdir {workdir}: {e}') from None

  def write(self, step: int, metrics: Mapping[str, float]) -> None:
    if not self._is_writer:
      return
    row = {'step': int(step), **{k: float(v) for k, v in metrics.items()}}
    try:
      self._jsonl.write(json.dumps(row) + '\n')
      self._jsonl.flush()
      for name, value in row.items():
        if name != 'step' and math.isfinite(value):
          self._tb.add_scalar(name, value, step)
    except OSError as e:
      raise WriteError(f'cannot write the metrics of step {step} to '
                       f'{self._workdir}: {e}') from None

  def progress(self, step: int, metrics: Mapping[str, float]) -> None:
    """Prints `step/total, key metrics, ETA` on one line."""
    if not self._is_writer:
      return
    now = time.time()
    if self._start is None:
      self._start = (now, step)
    t0, s0 = self._start
    eta = ''
    if step > s0:
      eta = f'  ETA {_duration((now - t0) / (step - s0) * (self._total_steps - step))}'
    shown = '  '.join(f'{k.split("/")[-1]} {v:.4g}' for k, v in metrics.items())
    print(f'step {step}/{self._total_steps} '
          f'({100 * step / self._total_steps:.0f}%)  {shown}{eta}', flush=True)

  def info(self, message: str) -> None:
    if self._is_writer:
      print(message, flush=True)

  def close(self) -> None:
    if self._is_writer:
      try:
        self._jsonl.close()
        self._tb.close()
      except OSError:
        # Not again at exit (tensorboardX's atexit hook would retry the
        # flush and print a traceback below our error line).
        for writer in (self._tb.all_writers or {}).values():
          writer.event_writer._closed = True  # pylint: disable=protected-access
        raise
