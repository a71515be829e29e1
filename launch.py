r"""Runs an experiment from a config file.

  python launch.py --config=configs/default.py:linformer --workdir=runs/x \
      --config.batch_size=256

Trains (or, with --config.mode=predict, runs one timed forward pass), saving
the resolved config, metrics, TensorBoard events and checkpoints in the
workdir; starting the same command again resumes from the last checkpoint.
On several hosts (Cloud TPU pods, Slurm), pass --jax_distributed on every
host: `jax.distributed.initialize()` then finds the others.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from vit_jax import deterministic_kernels
from vit_jax import host_malloc

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with an argument: file.py:arg.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the run.')
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    'jax_distributed', False,
    'Call jax.distributed.initialize() (multi-host TPU/GPU, Slurm, MPI).')
_PROCESSES = flags.DEFINE_string(
    'processes', None,
    'With --jax_distributed where the cluster cannot be detected (plain '
    'machines, local tests): COORDINATOR_HOST:PORT,NUM_PROCESSES,PROCESS_ID.')
_RETRY_FAILED = flags.DEFINE_bool(
    'retry_failed', False, 'Sweeps: run points that failed before again.')
_SWEEP_COMMANDS = flags.DEFINE_bool(
    'sweep_commands', False,
    'Sweeps: write each point\'s config and print its command (one job per '
    'point on a cluster) instead of running the points here.')
_VERBOSE = flags.DEFINE_bool('verbose', False, 'Show INFO logs of libraries.')
flags.mark_flags_as_required(['config', 'workdir'])


def _fail(message: str, code: int = 2) -> None:
  """Ends the program with one line on stderr, as every bad input should."""
  print(f'error: {" ".join(str(message).split())}', file=sys.stderr)
  sys.exit(code)


def parse_flags(argv):
  """absl's parsing, with bad flags and config overrides as one-line errors."""
  try:
    argv = flags.FLAGS(argv)
    _CONFIG.value.get('mode')  # Loads the file now: it is loaded lazily.
    return argv
  except OSError as e:  # Config file missing or unreadable.
    _fail(f'cannot load --config: {str(e).splitlines()[-1].strip()}')
  except flags.Error as e:
    # A config file that raised carries its traceback: its last line says why.
    lines = [line for line in str(e).splitlines() if line.strip()]
    _fail(f'{lines[0].split(": Error whilst")[0]}: {lines[-1].strip()}'
          if len(lines) > 1 else e)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    # ml_collections raises these for overrides of fields that do not exist;
    # str() of a KeyError would quote and escape its message.
    _fail(f'bad --config override: {e.args[0] if e.args else e}')


def _process_args(value):
  """--processes=ADDR,N,I -> initialize()'s keyword arguments ({}: detect)."""
  if not value:
    return {}
  try:
    address, count, index = value.split(',')
    return dict(coordinator_address=address, num_processes=int(count),
                process_id=int(index))
  except ValueError:
    _fail(f'--processes={value}: expected COORDINATOR_HOST:PORT,'
          'NUM_PROCESSES,PROCESS_ID')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _VERBOSE.value:  # Orbax logs every save step at INFO.
    logging.set_verbosity(logging.WARNING)
  config = _CONFIG.value
  if config.get('deterministic'):
    deterministic_kernels.use_deterministic_kernels()
  import jax  # Imported late: flag errors return before the slow imports.
  if _JAX_DISTRIBUTED.value:
    jax.distributed.initialize(**_process_args(_PROCESSES.value))
  from vit_jax.training import config_checks
  from vit_jax.data import input_pipeline
  from vit_jax.training import trainer
  try:
    if config.get('sweep'):
      from vit_jax.sweeps import runner
      if _SWEEP_COMMANDS.value:
        runner.print_commands(config, _WORKDIR.value)
      else:
        runner.run_sweep(config, _WORKDIR.value,
                         retry_failed=_RETRY_FAILED.value)
    elif config.mode == 'predict':
      trainer.predict(config, _WORKDIR.value)
    elif config.mode == 'benchmark':
      from vit_jax.benchmarking import report
      from vit_jax.sweeps import point
      print(report.format_row(point.run_point(config, _WORKDIR.value)))
    else:
      trainer.train_and_evaluate(config, _WORKDIR.value)
  except config_checks.ConfigError as e:
    _fail(e)
  except trainer.Preempted as e:
    print(e, flush=True)  # A clean stop: the scheduler may restart us.
  except (trainer.NonFiniteError, input_pipeline.CorruptImageError) as e:
    _fail(e, code=1)


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  app.run(main, flags_parser=parse_flags)
