"""Tests of the command line, `python launch.py`, in subprocesses: one-line
errors for bad configs, and a run killed with SIGKILL that resumes to the
result of an uninterrupted run. CPU, offline."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from vit_jax.data import digits
from vit_jax.training import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 180  # Per subprocess; a tiny run takes ~5-15 s.

# configs/default.py shrunk to seconds: 8x8 images, 5 tokens, dim 16, 1 layer.
TINY = [
    '--config=configs/default.py:full', '--config.image_size=8',
    '--config.model.patch_size=4', '--config.model.hidden_size=16',
    '--config.model.transformer.num_layers=1',
    '--config.model.transformer.num_heads=2',
    '--config.model.transformer.mlp_dim=16',
    '--config.model.transformer.dropout_rate=0.1',
    '--config.batch_size=16', '--config.eval_batch_size=64',
    '--config.lr.decay=constant', '--config.lr.warmup_steps=0',
    '--config.lr.base=0.003', '--config.log_every_steps=100',
    '--config.eval_every_steps=1000',
]


@pytest.fixture(scope='module')
def cli(tmp_path_factory):
  """Returns `command(workdir, *flags)` and the environment to run it in."""
  base = tmp_path_factory.getbasetemp()
  data_dir = str(base / 'tfds_digits')
  digits.load_builder(data_dir)  # Shared with test_training; idempotent.

  def command(workdir, *extra):
    return [sys.executable, 'launch.py', *TINY, f'--config.data_dir={data_dir}',
            f'--workdir={workdir}', *extra]

  def env(devices):
    result = dict(os.environ)
    result.update(
        # Optimization level 0 halves XLA:CPU compile time (speed only: every
        # run of a comparison uses the same flags).
        XLA_FLAGS=(f'--xla_force_host_platform_device_count={devices} '
                   '--xla_backend_optimization_level=0'),
        JAX_PLATFORMS='cpu',
        # Later runs reuse the first one's executables: speed only.
        JAX_COMPILATION_CACHE_DIR=str(base / 'jax_cache_cli'),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
    return result

  return command, env


def start(args, env, log_path):
  """Starts `args` in the repo root, stdout and stderr to `log_path`."""
  with open(log_path, 'w') as log:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def finish(process, log_path):
  """Waits for `process` (killing it on timeout); returns (code, output)."""
  try:
    code = process.wait(timeout=TIMEOUT_S)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()
    raise
  with open(log_path) as f:
    return code, f.read()


# Bad configs: exit code 2, one 'error:' line on stderr, nothing created.

BAD = {
    # name: (extra flags, devices, expected in the message)
    'unknown_attention': (['--config.model.attention.name=nope'], 1, 'nope'),
    'batch_not_divisible_by_2_devices': (['--config.batch_size=15'], 2,
                                         'batch_size=15'),
    'typo_in_override': (['--config.modle.hidden_size=8'], 1, 'modle'),
    'field_of_another_variant': (['--config.model.attention.k=4'], 1,
                                 'no config field model.attention.k'),
    'negative_learning_rate': (['--config.lr.base=-0.1'], 1,
                               'config.lr.base=-0.1: must be > 0'),
    'zero_batch': (['--config.batch_size=0'], 1, 'config.batch_size=0'),
    'extra_positional_argument': (['extra'], 1, "unexpected argument(s) 'extra'"),
    'config_file_not_python': (['--config=README.md'], 1,
                               'cannot load --config=README.md'),
    'data_dir_is_a_file': (['--config.data_dir=launch.py'], 1,
                           "cannot read dataset 'digits'"),
    'options_of_another_variant': (
        ['--config.model.attention.name=linformer'], 1,
        "'linformer' takes no option implementation"),
}


@pytest.fixture(scope='module')
def bad_launches(cli, tmp_path_factory):
  """Launches every BAD config at once; name -> (code, stdout, stderr, wd)."""
  command, env = cli
  base = tmp_path_factory.mktemp('bad')
  processes = {}
  try:
    for name, (extra, devices, _) in BAD.items():
      workdir = base / name / 'run'
      processes[name] = (workdir, subprocess.Popen(
          command(workdir, '--config.total_steps=2', *extra), cwd=ROOT,
          env=env(devices), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
          text=True))
    results = {}
    for name, (workdir, process) in processes.items():
      out, err = process.communicate(timeout=TIMEOUT_S)
      results[name] = (process.returncode, out, err, workdir)
    return results
  finally:
    for _, process in processes.values():
      if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.parametrize('name', sorted(BAD))
def test_bad_config_one_error_line_and_no_workdir(name, bad_launches):
  """Exit 2, a single 'error: ...' line on stderr, no workdir created."""
  code, _, stderr, workdir = bad_launches[name]
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert code == 2, stderr
  assert len(lines) == 1, stderr
  assert lines[0].startswith('error:'), stderr
  assert BAD[name][2] in lines[0], stderr
  assert not os.path.exists(workdir.parent), os.listdir(workdir.parent)


def test_override_typo_message_is_plain_text(bad_launches):
  """The error line shows the message, not a repr with escapes."""
  stderr = bad_launches['typo_in_override'][2].strip()
  assert '\\' not in stderr, stderr


def restore_final_state(workdir, scratch):
  """(step, state) of the workdir's latest checkpoint, as NumPy."""
  del scratch  # trainer.load_state writes nothing.
  _, state = trainer.load_state(str(workdir))
  return int(state.step), jax.device_get(state)


def final_test_row(workdir):
  """The last metrics.jsonl row with test metrics."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  return [r for r in rows if 'test/accuracy' in r][-1]


def checkpoint_steps(workdir):
  """Steps of the complete checkpoints (orbax renames tmp dirs when done)."""
  path = os.path.join(workdir, 'checkpoints')
  names = os.listdir(path) if os.path.isdir(path) else []
  return sorted(int(n) for n in names if n.isdigit())


def test_killed_run_resumes_to_uninterrupted_result(cli, tmp_path):
  """SIGKILL after a periodic checkpoint; the same command resumes from it and
  ends with the parameters and test metrics of an uninterrupted run."""
  command, env = cli
  total = 150  # ~3 s of steps: time to kill the run after a checkpoint.
  duration = [f'--config.total_steps={total}',
              '--config.checkpoint_every_steps=10']
  first_periodic = 10  # Step 1 is saved too (orbax's initial save).

  uninterrupted = tmp_path / 'uninterrupted'
  code, out_u = finish(start(command(uninterrupted, *duration), env(1),
                             tmp_path / 'u.log'), tmp_path / 'u.log')
  assert code == 0, out_u
  assert 'resumed' not in out_u

  killed = tmp_path / 'killed'
  process = start(command(killed, *duration), env(1), tmp_path / 'k1.log')
  try:
    deadline = time.time() + TIMEOUT_S
    while (process.poll() is None and time.time() < deadline and
           not any(s >= first_periodic for s in checkpoint_steps(killed))):
      time.sleep(0.02)
    assert process.poll() is None, 'the run ended before it could be killed'
    os.kill(process.pid, signal.SIGKILL)
  finally:
    if process.poll() is None:
      process.kill()
    process.wait(timeout=TIMEOUT_S)
  assert process.returncode == -signal.SIGKILL
  saved = checkpoint_steps(killed)
  assert saved and max(saved) < total, saved  # Killed mid-run.

  code, out_r = finish(start(command(killed, *duration), env(1),
                             tmp_path / 'k2.log'), tmp_path / 'k2.log')
  assert code == 0, out_r
  resumed_line = [l for l in out_r.splitlines() if 'resumed from step' in l]
  assert resumed_line, out_r
  resumed_from = int(resumed_line[0].split('resumed from step')[1].split()[0])
  assert resumed_from in saved and resumed_from >= first_periodic, (
      resumed_from, saved)

  def summary(output, workdir):
    line = [l for l in output.splitlines()
            if l.startswith('final test accuracy')]
    assert line, output
    return line[-1].replace(str(workdir), 'WORKDIR')

  assert summary(out_r, killed) == summary(out_u, uninterrupted)
  assert final_test_row(killed) == final_test_row(uninterrupted)
  step_u, state_u = restore_final_state(uninterrupted, tmp_path / 'scratch_u')
  step_k, state_k = restore_final_state(killed, tmp_path / 'scratch_k')
  assert step_u == step_k == int(state_k.step) == total
  assert jax.tree.structure(state_u) == jax.tree.structure(state_k)
  for a, b in zip(jax.tree.leaves(state_u), jax.tree.leaves(state_k)):
    np.testing.assert_array_equal(a, b)


def _signal_when_logged(process, log_path, text, sig):
  """Sends `sig` to `process` once `text` appears in its log."""
  deadline = time.time() + TIMEOUT_S
  while process.poll() is None and time.time() < deadline:
    with open(log_path) as f:
      if text in f.read():
        process.send_signal(sig)
        return
    time.sleep(0.05)
  raise AssertionError(f'{text!r} never appeared in {log_path}')


def run_and_signal(args, env, log_path, text, sig):
  """Runs `args`, sends `sig` once `text` is logged; returns (code, output)."""
  process = start(args, env, log_path)
  try:
    _signal_when_logged(process, log_path, text, sig)
    return finish(process, log_path)
  finally:
    if process.poll() is None:
      process.kill()


def test_sigterm_saves_a_checkpoint_exits_0_and_resumes(cli, tmp_path):
  """SIGTERM (preemption) mid-run: a checkpoint at the current step, exit 0,
  one line saying so; the same command resumes from that step."""
  command, env = cli
  workdir = tmp_path / 'run'
  # Long enough never to end by itself; no periodic checkpoint.
  args = command(workdir, '--config.total_steps=10000000',
                 '--config.checkpoint_every_steps=10000000')
  saved = []
  for attempt, wait_for in enumerate(['first step', 'resumed from step']):
    code, output = run_and_signal(args, env(1),
                                  tmp_path / f'run{attempt}.log', wait_for,
                                  signal.SIGTERM)
    assert code == 0, output
    lines = [l for l in output.splitlines() if l.startswith('SIGTERM')]
    assert len(lines) == 1, output
    step = int(lines[0].split('checkpoint saved at step ')[1].split()[0])
    assert checkpoint_steps(workdir) == saved + [step]
    if saved:
      assert f'resumed from step {saved[-1]}' in output
      assert step > saved[-1]
    saved.append(step)


def test_corrupt_image_stops_with_one_line_naming_it(cli, tmp_path):
  from PIL import Image
  for name in ('a', 'b'):
    os.makedirs(tmp_path / 'images' / name)
    for i in range(8):
      Image.new('RGB', (12, 10), (30 * i, 0, 0)).save(
          tmp_path / 'images' / name / f'{i}.png')
  (tmp_path / 'images' / 'b' / 'broken.png').write_bytes(b'not a png')
  command, env = cli
  log_path = tmp_path / 'run.log'
  code, output = finish(start(
      command(tmp_path / 'run', f'--config.dataset=folder:{tmp_path}/images',
              '--config.num_classes=2', '--config.total_steps=3',
              '--config.input.folder_test_fraction=0.25'),
      env(1), log_path), log_path)
  assert code == 1, output
  errors = [l for l in output.splitlines() if l.startswith('error:')]
  assert len(errors) == 1 and 'broken.png' in errors[0], output
  assert 'Traceback' not in output, output


def test_ctrl_c_saves_a_checkpoint_and_exits_130(cli, tmp_path):
  """SIGINT (Ctrl-C) is handled like SIGTERM, with the exit code of an
  interrupted command: one line, a checkpoint of the current step."""
  command, env = cli
  workdir = tmp_path / 'run'
  code, output = run_and_signal(
      command(workdir, '--config.total_steps=10000000',
              '--config.checkpoint_every_steps=10000000'),
      env(1), tmp_path / 'run.log', 'first step', signal.SIGINT)
  assert code == 130, output
  assert 'Traceback' not in output, output
  lines = [l for l in output.splitlines() if l.startswith('SIGINT')]
  assert len(lines) == 1, output
  step = int(lines[0].split('checkpoint saved at step ')[1].split()[0])
  assert checkpoint_steps(workdir) == [step]


def test_preempted_sweep_point_exits_0_and_is_recorded(cli, tmp_path):
  """point_job, the command of a cluster job: SIGTERM is a preemption, not a
  failure: exit 0, result.json says 'preempted', the rerun resumes."""
  from test_training import tiny_config  # pylint: disable=g-import-not-at-top
  _, env = cli
  data_dir = str(tmp_path_data_dir(cli))
  config = tiny_config(data_dir, total_steps=10000000,
                       checkpoint_every_steps=10000000)
  point_dir = tmp_path / 'point'
  point_dir.mkdir()
  (point_dir / 'point_config.json').write_text(config.to_json_best_effort())
  args = [sys.executable, '-m', 'vit_jax.sweeps.point_job',
          f'--config_json={point_dir / "point_config.json"}',
          f'--workdir={point_dir}']
  code, output = run_and_signal(args, env(1), tmp_path / 'point.log',
                                'first step', signal.SIGTERM)
  assert code == 0, output
  assert 'Traceback' not in output, output
  with open(point_dir / 'result.json') as f:
    result = json.load(f)
  assert result['status'] == 'preempted'
  assert checkpoint_steps(point_dir) == [result['step']]


def tmp_path_data_dir(cli):
  """The digits data_dir the `cli` fixture prepared (from its command)."""
  command, _ = cli
  flag = [a for a in command('x') if a.startswith('--config.data_dir=')][0]
  return flag.split('=', 1)[1]


def test_point_job_flag_errors_are_one_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'vit_jax.sweeps.point_job',
       f'--workdir={tmp_path}'], cwd=ROOT, capture_output=True, text=True,
      timeout=TIMEOUT_S)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2 and len(lines) == 1, proc.stderr
  assert lines[0].startswith('error: flag --config_json'), proc.stderr
