r"""Kills a tiny training run at random times and checks that resuming it gives
exactly the result of an uninterrupted run.

  python experiments/kill_resume.py --trials=20              # kill -9
  python experiments/kill_resume.py --trials=20 --signal=TERM  # preemption

Each trial starts `launch.py` on a tiny digits config (8x8 images, 1 layer,
dropout on, 1,500 steps, a checkpoint every 100 steps), sends the signal at a
time drawn uniformly over the reference run's wall time (so kills land in
start-up, compilation, training, checkpoint writes and the final evaluation),
up to --kills_per_trial times, then runs the same command until it exits 0.
A trial counts as identical when the final parameters and optimizer state
(bit for bit) and the final test metrics equal those of the uninterrupted
reference run. Prints one line per trial and `N/N identical`; exits 1
otherwise. Takes ~4 min for 20 trials on the 2-core CPU machine.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from absl import app
from absl import logging
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

_TRIALS = flags.DEFINE_integer('trials', 20, 'Number of killed runs.')
_SIGNAL = flags.DEFINE_enum('signal', 'KILL', ['KILL', 'TERM'],
                            'Signal sent to the run.')
_KILLS = flags.DEFINE_integer('kills_per_trial', 2,
                              'At most this many kills per trial.')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/kill_resume',
                               'Scratch directory (emptied first).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the kill times.')

TIMEOUT_S = 300
TINY = [
    '--config=configs/default.py:full', '--config.image_size=8',
    '--config.model.patch_size=4', '--config.model.hidden_size=16',
    '--config.model.transformer.num_layers=1',
    '--config.model.transformer.num_heads=2',
    '--config.model.transformer.mlp_dim=16',
    '--config.model.transformer.dropout_rate=0.1',
    '--config.batch_size=16', '--config.eval_batch_size=64',
    '--config.total_steps=1500', '--config.checkpoint_every_steps=100',
    '--config.log_every_steps=250', '--config.eval_every_steps=750',
    '--config.max_to_keep=20',
]


def _command(workdir: str, data_dir: str) -> list[str]:
  return [sys.executable, 'launch.py', *TINY, f'--config.data_dir={data_dir}',
          f'--workdir={workdir}']


def _env(cache_dir: str) -> dict[str, str]:
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             # Same executables in every process: faster, results unchanged.
             JAX_COMPILATION_CACHE_DIR=cache_dir,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  env.pop('XLA_FLAGS', None)
  return env


def _run(command, env, log_path, kill_after=None, sig=signal.SIGKILL):
  """Runs `command`; sends `sig` after `kill_after` s. Returns (code, secs)."""
  start = time.time()
  with open(log_path, 'a') as log:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
      process.wait(timeout=kill_after if kill_after is not None else TIMEOUT_S)
    except subprocess.TimeoutExpired:
      if kill_after is None:
        process.kill()
        raise
      process.send_signal(sig)
      process.wait(timeout=TIMEOUT_S)
  return process.returncode, time.time() - start


def _final_result(workdir: str):
  """(final test metrics row, {path: array}) of the workdir's run."""
  import jax
  from vit_jax.training import trainer
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  test_row = [r for r in rows if 'test/accuracy' in r][-1]
  _, state = trainer.load_state(workdir)
  leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(state))
  return test_row, {jax.tree_util.keystr(p): x for p, x in leaves}


def _identical(a, b) -> bool:
  import numpy as np
  (row_a, state_a), (row_b, state_b) = a, b
  return (row_a == row_b and state_a.keys() == state_b.keys()
          and all(np.array_equal(state_a[k], state_b[k]) for k in state_a))


def _last_checkpoint(workdir: str):
  path = os.path.join(workdir, 'checkpoints')
  steps = [int(n) for n in os.listdir(path) if n.isdigit()] if (
      os.path.isdir(path)) else []
  return max(steps, default=None)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs every restore at INFO.
  base = os.path.abspath(_WORKDIR.value)
  shutil.rmtree(base, ignore_errors=True)
  os.makedirs(base)
  data_dir, env = os.path.join(base, 'data'), _env(os.path.join(base, 'cache'))
  sig = getattr(signal, f'SIG{_SIGNAL.value}')
  rng = random.Random(_SEED.value)

  reference_dir = os.path.join(base, 'reference')
  code, wall = _run(_command(reference_dir, data_dir), env,
                    os.path.join(base, 'reference.log'))
  if code != 0:
    sys.exit(f'error: the reference run failed (exit {code}); see '
             f'{base}/reference.log')
  # Timed again now that the data and the compilation cache exist.
  shutil.rmtree(reference_dir)
  code, wall = _run(_command(reference_dir, data_dir), env,
                    os.path.join(base, 'reference.log'))
  reference = _final_result(reference_dir)
  print(f'reference: uninterrupted run {wall:.1f} s, test accuracy '
        f'{reference[0]["test/accuracy"]:.4f}', flush=True)

  same = 0
  for trial in range(_TRIALS.value):
    workdir = os.path.join(base, f'trial_{trial:02d}')
    log = os.path.join(base, f'trial_{trial:02d}.log')
    events = []
    for _ in range(rng.randint(1, _KILLS.value)):
      at = rng.uniform(0.0, wall)
      code, _ = _run(_command(workdir, data_dir), env, log, at, sig)
      events.append(f'{_SIGNAL.value.lower()} at {at:4.1f} s -> exit {code}, '
                    f'checkpoint {_last_checkpoint(workdir)}')
      if code == 0 and _last_checkpoint(workdir) == 1500:
        break  # Finished before the signal.
    for _ in range(3):  # A TERM may stop it again only if resent; it is not.
      code, _ = _run(_command(workdir, data_dir), env, log)
      if code == 0:
        break
    ok = code == 0 and _identical(_final_result(workdir), reference)
    same += ok
    print(f'trial {trial + 1:2d}: {"; ".join(events)}; resumed to the end: '
          f'{"identical" if ok else "DIFFERENT" if code == 0 else f"exit {code}"}',
          flush=True)
  print(f'{same}/{_TRIALS.value} identical', flush=True)
  sys.exit(0 if same == _TRIALS.value else 1)


if __name__ == '__main__':
  app.run(main)
