"""Runs a sweep's points one by one, each in a watched subprocess.

Layout of the sweep workdir:
  sweep.json           the base config and its points, as launched
  <point name>/        the point's workdir: point_config.json, log.txt,
                       result.json (written when it finished, ok or failed)
  results.csv, results.jsonl, *.png   rebuilt after every point

A point with a result.json is skipped, so re-running a sweep resumes it
(`retry_failed` runs failed points again; a point stopped by SIGTERM/SIGINT,
status "preempted", resumes from its checkpoint). A point that fails, runs
out of memory or time is recorded with the reason and the sweep goes on.

A point whose saved point_config.json differs from what the sweep config now
gives it is refused before anything runs: its results belong to the old
config and are never relabelled. SIGTERM or Ctrl-C to the runner is passed
on to the running point (which checkpoints) and the sweep stops.
"""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from vit_jax import errors
from vit_jax.errors import ConfigError
from vit_jax.runtime import process_memory
from vit_jax.sweeps import grid
from vit_jax.sweeps import plots
from vit_jax.sweeps import point as point_lib
from vit_jax.training import config_validation
from vit_jax.training import workdir as workdir_lib

POINT_CONFIG_FILE = 'point_config.json'
# Fields of a point's config that say how the sweep runs, not what the point
# is: they may change between runs of one sweep.
SWEEP_FIELDS = frozenset({'sweep', 'sweep_memory_limit_gb', 'sweep_timeout_s'})

# First columns of results.csv, in this order; other keys follow sorted.
RESULT_COLUMNS = (
    'name', 'status', 'reason', 'attention', 'mode', 'kind', 'image_size',
    'patch_size', 'tokens', 'batch', 'num_params', 'compile_s',
    'step_s_median', 'step_s_min', 'step_s_max', 'images_per_s',
    'tokens_per_s', 'xla_memory_bytes', 'step_rss_bytes', 'peak_rss_bytes',
    'model_flops_per_step', 'xla_flops_per_step', 'model_flops_per_s',
    'matmul_flops_per_s', 'utilization', 'summary_metric', 'summary',
    'wall_s', 'cpu')
POLL_S = 0.25


def _last_error_line(log_path: str) -> str:
  with open(log_path, errors='replace') as f:
    lines = [l.strip() for l in f if l.strip()]
  for line in reversed(lines):  # Prefer the exception line of a traceback.
    if 'Error' in line.split(':')[0] or line.startswith('error:'):
      return line[:300]
  return lines[-1][:300] if lines else 'no output'


class _StopRequest:
  """SIGTERM/SIGINT to the runner: passed on to the running point as
  SIGTERM (the point checkpoints and exits); the sweep then stops."""

  def __init__(self):
    self.signal_name = None
    self.child = None
    self._previous = {}

  def __enter__(self):
    for signum in (signal.SIGTERM, signal.SIGINT):
      try:
        self._previous[signum] = signal.signal(signum, self._on_signal)
      except ValueError:  # Not the main thread (tests): no handler.
        pass
    return self

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)

  def _on_signal(self, signum, frame):
    del frame
    self.signal_name = self.signal_name or signal.Signals(signum).name
    # A Ctrl-C in the terminal reached the point too; SIGTERM on top of it
    # only sets the same flag (a second SIGINT would abort its save).
    if self.child is not None and self.child.poll() is None:
      self.child.send_signal(signal.SIGTERM)


def run_child(cmd: list[str], log_path: str, *, memory_limit_bytes: int,
              timeout_s: float, stop: _StopRequest | None = None
              ) -> tuple[str, str]:
  """Runs `cmd`, killing it past the limits. Returns (status, reason).

  With `stop`, a signal to the runner is forwarded and the status is
  'stopped' unless the child finished anyway.
  """
  with open(log_path, 'a') as log:  # A resumed point adds to its log.
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    if stop is not None:
      stop.child = proc
      if stop.signal_name:  # Arrived while starting it.
        proc.send_signal(signal.SIGTERM)
    start, peak = time.time(), 0
    while proc.poll() is None:
      peak = max(peak, process_memory.rss_bytes(proc.pid) or 0)
      if peak > memory_limit_bytes:
        proc.kill()
        proc.wait()
        return 'failed', (f'out of memory: RSS {peak / 2**30:.1f} GiB over '
                          f'the limit of {memory_limit_bytes / 2**30:.1f} GiB')
      if time.time() - start > timeout_s:
        proc.kill()
        proc.wait()
        return 'failed', f'timeout after {timeout_s:.0f} s'
      time.sleep(POLL_S)
  if stop is not None:
    stop.child = None
    if stop.signal_name and proc.returncode:
      return 'stopped', f'{stop.signal_name} to the sweep runner'
  if proc.returncode == -signal.SIGKILL:
    return 'failed', (f'killed by SIGKILL (likely the kernel\'s out-of-memory '
                      f'killer; peak RSS seen {peak / 2**30:.1f} GiB)')
  if proc.returncode < 0:
    return 'failed', f'killed by signal {-proc.returncode}'
  if proc.returncode:
    return 'failed', _last_error_line(log_path)
  return 'ok', ''


def _point_differences(config, point_dir: str) -> list[str] | None:
  """Fields in which `config` differs from the point's saved config (None:
  nothing saved yet)."""
  path = os.path.join(point_dir, POINT_CONFIG_FILE)
  if not os.path.lexists(path):
    return None
  saved = workdir_lib.read_json(path, what='the point config')
  if not isinstance(saved, dict):
    raise ConfigError(f'{path} is not a point config; restore it or use a '
                      'new --workdir')
  new = json.loads(config.to_json_best_effort())
  saved = workdir_lib.record_with_defaults(saved)
  return [k for k in workdir_lib.config_differences(saved, new)
          if k.split('.')[0] not in SWEEP_FIELDS]


def check_point(point: dict[str, Any], base_config, sweep_dir: str) -> None:
  """Refuses a point whose saved config is not the one the sweep gives it.

  Raises:
    ConfigError: naming the point, the fields and what to do.
  """
  point_dir = os.path.join(sweep_dir, point['name'])
  differences = _point_differences(grid.apply(base_config, point), point_dir)
  if differences:
    shown = ', '.join(differences[:4]) + (
        f' and {len(differences) - 4} more' if len(differences) > 4 else '')
    raise ConfigError(
        f'sweep point {point["name"]!r} in {sweep_dir} was run with another '
        f'config (differs in {shown}); its results are not this sweep\'s: '
        f'use a new --workdir, or move {point_dir} away to run it again '
        '(nothing was changed)')


def write_point(point: dict[str, Any], base_config,
                sweep_dir: str) -> list[str]:
  """Writes the point's resolved config if new; returns its command."""
  config = grid.apply(base_config, point)
  point_dir = os.path.join(sweep_dir, point['name'])
  config_path = os.path.join(point_dir, POINT_CONFIG_FILE)
  if _point_differences(config, point_dir) is None:
    workdir_lib.write_text(point_dir, POINT_CONFIG_FILE,
                           config.to_json_best_effort(indent=1))
  return [sys.executable, '-m', 'vit_jax.sweeps.point_job',
          f'--config_json={config_path}', f'--workdir={point_dir}',
          f'--max_memory_gb={base_config.sweep_memory_limit_gb}']


def _read_result(path: str) -> dict[str, Any] | None:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def run_point_job(point: dict[str, Any], base_config, sweep_dir: str, *,
              retry_failed: bool, stop: _StopRequest | None = None
              ) -> dict[str, Any]:
  """Runs (or skips) one point; returns its result row."""
  config = grid.apply(base_config, point)
  point_dir = os.path.join(sweep_dir, point['name'])
  result_path = os.path.join(point_dir, point_lib.RESULT_FILE)
  row = {'name': point['name'], **point_lib.describe(config)}
  saved = _read_result(result_path)
  if saved and (saved.get('status') == 'ok'
                or (saved.get('status') == 'failed' and not retry_failed)):
    return {**row, **saved}
  cmd = write_point(point, base_config, sweep_dir)
  limit = base_config.sweep_memory_limit_gb
  start = time.time()
  status, reason = run_child(
      cmd, os.path.join(point_dir, 'log.txt'),
      memory_limit_bytes=int(limit * 2**30),
      timeout_s=base_config.sweep_timeout_s, stop=stop)
  if status == 'ok':
    # 'ok', or 'preempted' if the point was stopped and checkpointed.
    return {**row, **(_read_result(result_path) or {
        'status': 'failed', 'reason': 'the point wrote no result.json'})}
  if status == 'stopped':  # Not a failure: nothing recorded, it reruns.
    return {**row, 'status': 'preempted', 'reason': reason}
  failed = {'status': status, 'reason': reason, 'wall_s': time.time() - start}
  workdir_lib.write_json(point_dir, point_lib.RESULT_FILE, failed, indent=1)
  return {**row, **failed}


def write_results(rows: list[dict[str, Any]], sweep_dir: str) -> None:
  """results.csv (documented columns first) and results.jsonl, atomically."""
  extra = sorted({k for r in rows for k in r} - set(RESULT_COLUMNS))
  table = io.StringIO(newline='')
  writer = csv.DictWriter(table, fieldnames=list(RESULT_COLUMNS) + extra)
  writer.writeheader()
  writer.writerows(rows)
  workdir_lib.write_text(sweep_dir, 'results.csv', table.getvalue())
  workdir_lib.write_text(sweep_dir, 'results.jsonl',
                         ''.join(json.dumps(r) + '\n' for r in rows))


def summary_table(rows: list[dict[str, Any]]) -> str:
  """A fixed-width table of the points, one line each (plus failure reasons)."""
  columns = (  # (title, width, value of a row or None)
      ('point', -36, lambda r: r['name'][:36]),
      ('status', -7, lambda r: r.get('status')),
      ('tokens', 6, lambda r: r.get('tokens')),
      ('step ms', 9, lambda r: _scaled(r, 'step_s_median', 1e3, '.1f')),
      ('img/s', 8, lambda r: _scaled(r, 'images_per_s', 1, '.1f')),
      ('XLA GiB', 8, lambda r: _scaled(r, 'xla_memory_bytes', 2**-30, '.2f')),
      ('step GiB', 8, lambda r: _scaled(r, 'step_rss_bytes', 2**-30, '.2f')),
      ('RSS GiB', 8, lambda r: _scaled(r, 'peak_rss_bytes', 2**-30, '.2f')),
      ('util', 5, lambda r: _scaled(r, 'utilization', 1, '.0%')),
      # The value of each point's config.summary_metric (e.g. test/accuracy).
      ('metric', 6, lambda r: _scaled(
          {'summary': point_lib.summary_of(r)[1]}, 'summary', 1, '.4f')),
  )
  line = lambda cells: ' '.join(
      f'{c:<{-w}}' if w < 0 else f'{c:>{w}}'
      for c, (_, w, _) in zip(cells, columns))
  lines = [line([title for title, _, _ in columns])]
  lines.append('-' * len(lines[0]))
  for r in rows:
    lines.append(line([str(v(r) if v(r) is not None else '-')
                       for _, _, v in columns]))
    if r.get('status') != 'ok' and r.get('reason'):
      lines.append(f'    {r["reason"]}')
  return '\n'.join(lines)


def _scaled(row, key, scale, spec):
  value = row.get(key)
  return None if value in (None, '') else format(value * scale, spec)


def _checked_points(config, sweep_dir: str) -> list[dict[str, Any]]:
  """The points, each checked (config rules, saved config) before any runs.

  Raises:
    ConfigError: a duplicate name, an unknown field, a bad value or a point
      whose saved config differs.
  """
  points = list(config.sweep)
  if not points:
    raise ConfigError('config.sweep has no points')
  names = [p['name'] for p in points]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ConfigError(f'sweep point names must be unique: {duplicates}')
  for p in points:  # Every override must exist before anything runs.
    try:
      config_validation.validate(grid.apply(config, p))
    except ConfigError as e:
      prefix = f'sweep point {p["name"]!r}: '
      message = str(e)  # grid.apply may have named the point already.
      raise ConfigError(message if message.startswith(prefix)
                        else prefix + message) from None
    check_point(p, config, sweep_dir)
  return points


def print_commands(config, sweep_dir: str) -> None:
  """Writes every new point's config and prints one command per point.

  For clusters: submit each line as a job; afterwards `run_sweep` locally
  skips the finished points and builds the tables and plots. Configs of
  points written before are left as they are (they must be the same).
  """
  points = _checked_points(config, sweep_dir)
  for p in points:
    print(' '.join(write_point(p, config, sweep_dir)))


def run_sweep(config, sweep_dir: str, *, retry_failed: bool = False
              ) -> list[dict[str, Any]]:
  """Runs every point of `config.sweep` into `sweep_dir`; returns the rows.

  Raises:
    ConfigError: the sweep cannot run (nothing was written then).
    Stopped: SIGTERM/SIGINT arrived; the running point was stopped (and
      checkpointed, if it trains); the same command resumes.
  """
  points = _checked_points(config, sweep_dir)
  with workdir_lib.exclusive(sweep_dir, is_writer=True), \
      _StopRequest() as stop:
    workdir_lib.write_text(sweep_dir, 'sweep.json',
                           config.to_json_best_effort(indent=1))
    rows = []
    for i, p in enumerate(points):
      print(f'[{i + 1}/{len(points)}] {p["name"]}', end=' ', flush=True)
      row = run_point_job(p, config, sweep_dir, retry_failed=retry_failed,
                          stop=stop)
      print(row['status'] + (f': {row["reason"]}' if row.get('reason') else '')
            + f' ({row.get("wall_s", 0):.0f} s)', flush=True)
      rows.append(row)
      write_results(rows, sweep_dir)
      if stop.signal_name:
        raise SweepStopped(p['name'], sweep_dir, stop.signal_name)
  written = plots.plot_all(rows, sweep_dir)
  print(summary_table(rows))
  print(f'results: {os.path.join(sweep_dir, "results.csv")}; plots: '
        f'{", ".join(os.path.basename(w) for w in written) or "none"}')
  return rows


class SweepStopped(errors.Stopped):
  """The sweep runner stopped on a signal; the point it ran was stopped."""

  def __init__(self, point_name: str, sweep_dir: str, signal_name: str):
    super().__init__(0, sweep_dir, signal_name)
    self.args = (f'{signal_name} received: sweep stopped at point '
                 f'{point_name!r} (a training point saved a checkpoint); run '
                 'the same command to resume the sweep',)

  def __str__(self):
    return self.args[0]


def check_all_ok(rows: list[dict[str, Any]], sweep_dir: str) -> None:
  """Raises SweepFailedError if any point failed (after the tables are out)."""
  failed = [r['name'] for r in rows if r.get('status') != 'ok']
  if failed:
    raise errors.SweepFailedError(
        f'{len(failed)} of {len(rows)} sweep points did not succeed '
        f'({", ".join(failed[:4])}{"..." if len(failed) > 4 else ""}); see '
        f'{os.path.join(sweep_dir, "results.csv")}; --retry_failed runs '
        'failed points again')
