"""Runs a sweep's points one by one, each in a watched subprocess.

Layout of the sweep workdir:
  sweep.json           the base config and its points, as launched
  <point name>/        the point's workdir: point_config.json, log.txt,
                       result.json (written when it finished, ok or failed)
  results.csv, results.jsonl, *.png   rebuilt after every point

A point with a result.json is skipped, so re-running a sweep resumes it
(`retry_failed` runs failed points again). A point that fails, runs out of
memory or time is recorded with the reason and the sweep goes on.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from vit_jax.sweeps import grid
from vit_jax.sweeps import plots
from vit_jax.sweeps import point as point_lib
from vit_jax.training.config_checks import ConfigError

# First columns of results.csv, in this order; other keys follow sorted.
RESULT_COLUMNS = (
    'name', 'status', 'reason', 'attention', 'mode', 'kind', 'image_size',
    'patch_size', 'tokens', 'batch', 'num_params', 'compile_s',
    'step_s_median', 'step_s_min', 'step_s_max', 'images_per_s',
    'tokens_per_s', 'xla_memory_bytes', 'step_rss_bytes', 'peak_rss_bytes',
    'model_flops_per_step', 'xla_flops_per_step', 'model_flops_per_s',
    'matmul_flops_per_s', 'utilization', 'test_accuracy',
    'test_loss', 'wall_s')
POLL_S = 0.25


def _rss_bytes(pid: int) -> int:
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith('VmRSS:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return 0


def _last_error_line(log_path: str) -> str:
  with open(log_path, errors='replace') as f:
    lines = [l.strip() for l in f if l.strip()]
  for line in reversed(lines):  # Prefer the exception line of a traceback.
    if 'Error' in line.split(':')[0] or line.startswith('error:'):
      return line[:300]
  return lines[-1][:300] if lines else 'no output'


def _child_env() -> dict[str, str]:
  """The environment with this checkout importable from any directory."""
  env = dict(os.environ)
  root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  env['PYTHONPATH'] = os.pathsep.join(
      p for p in (root, env.get('PYTHONPATH')) if p)
  return env


def run_child(cmd: list[str], log_path: str, *, memory_limit_bytes: int,
              timeout_s: float) -> tuple[str, str]:
  """Runs `cmd`, killing it past the limits. Returns (status, reason)."""
  with open(log_path, 'w') as log:
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env=_child_env())
    start, peak = time.time(), 0
    while proc.poll() is None:
      peak = max(peak, _rss_bytes(proc.pid))
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
  if proc.returncode == -signal.SIGKILL:
    return 'failed', (f'killed by SIGKILL (likely the kernel\'s out-of-memory '
                      f'killer; peak RSS seen {peak / 2**30:.1f} GiB)')
  if proc.returncode < 0:
    return 'failed', f'killed by signal {-proc.returncode}'
  if proc.returncode:
    return 'failed', _last_error_line(log_path)
  return 'ok', ''


def write_point(point: dict[str, Any], base_config,
                sweep_dir: str) -> list[str]:
  """Writes the point's resolved config; returns the command that runs it."""
  config = grid.apply(base_config, point)
  point_dir = os.path.join(sweep_dir, point['name'])
  os.makedirs(point_dir, exist_ok=True)
  config_path = os.path.join(point_dir, 'point_config.json')
  with open(config_path, 'w') as f:
    f.write(config.to_json_best_effort(indent=1))
  return [sys.executable, '-m', 'vit_jax.sweeps.run_point',
          f'--config_json={config_path}', f'--workdir={point_dir}',
          f'--max_memory_gb={base_config.sweep_memory_limit_gb}']


def run_point(point: dict[str, Any], base_config, sweep_dir: str, *,
              retry_failed: bool) -> dict[str, Any]:
  """Runs (or skips) one point; returns its result row."""
  config = grid.apply(base_config, point)
  point_dir = os.path.join(sweep_dir, point['name'])
  result_path = os.path.join(point_dir, point_lib.RESULT_FILE)
  row = {'name': point['name'], **point_lib.describe(config)}
  if os.path.exists(result_path):
    with open(result_path) as f:
      saved = json.load(f)
    if saved['status'] == 'ok' or not retry_failed:
      return {**row, **saved}
  cmd = write_point(point, base_config, sweep_dir)
  limit = base_config.sweep_memory_limit_gb
  start = time.time()
  status, reason = run_child(
      cmd, os.path.join(point_dir, 'log.txt'),
      memory_limit_bytes=int(limit * 2**30),
      timeout_s=base_config.sweep_timeout_s)
  if status == 'ok':
    with open(result_path) as f:
      return {**row, **json.load(f)}
  failed = {'status': status, 'reason': reason, 'wall_s': time.time() - start}
  with open(result_path, 'w') as f:
    json.dump(failed, f, indent=1)
  return {**row, **failed}


def write_results(rows: list[dict[str, Any]], sweep_dir: str) -> None:
  """results.csv (documented columns first) and results.jsonl."""
  extra = sorted({k for r in rows for k in r} - set(RESULT_COLUMNS))
  with open(os.path.join(sweep_dir, 'results.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(RESULT_COLUMNS) + extra)
    writer.writeheader()
    writer.writerows(rows)
  with open(os.path.join(sweep_dir, 'results.jsonl'), 'w') as f:
    for r in rows:
      f.write(json.dumps(r) + '\n')


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
      ('acc', 6, lambda r: _scaled(r, 'test_accuracy', 1, '.4f')),
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


def _checked_points(config) -> list[dict[str, Any]]:
  points = list(config.sweep)
  names = [p['name'] for p in points]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ConfigError(f'sweep point names must be unique: {duplicates}')
  for p in points:  # Every override must exist before anything runs.
    grid.apply(config, p)
  return points


def print_commands(config, sweep_dir: str) -> None:
  """Writes every point's config and prints one command per point.

  For clusters: submit each line as a job; afterwards `run_sweep` locally
  skips the finished points and builds the tables and plots.
  """
  for p in _checked_points(config):
    print(' '.join(write_point(p, config, sweep_dir)))


def run_sweep(config, sweep_dir: str, *, retry_failed: bool = False
              ) -> list[dict[str, Any]]:
  """Runs every point of `config.sweep` into `sweep_dir`; returns the rows."""
  points = _checked_points(config)
  os.makedirs(sweep_dir, exist_ok=True)
  with open(os.path.join(sweep_dir, 'sweep.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=1))
  rows = []
  for i, p in enumerate(points):
    print(f'[{i + 1}/{len(points)}] {p["name"]}', end=' ', flush=True)
    row = run_point(p, config, sweep_dir, retry_failed=retry_failed)
    print(row['status'] + (f': {row["reason"]}' if row.get('reason') else '')
          + f' ({row.get("wall_s", 0):.0f} s)', flush=True)
    rows.append(row)
    write_results(rows, sweep_dir)
  written = plots.plot_all(rows, sweep_dir)
  print(summary_table(rows))
  print(f'results: {os.path.join(sweep_dir, "results.csv")}; plots: '
        f'{", ".join(os.path.basename(w) for w in written) or "none"}')
  return rows
