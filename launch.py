r"""Runs an experiment from a config file.

  python launch.py --config=configs/default.py:linformer --workdir=runs/x \
      --config.batch_size=256

Trains (or, with --config.mode=predict, runs one timed forward pass), saving
the resolved config, metrics, TensorBoard events and checkpoints in the
workdir; starting the same command again resumes from the last checkpoint.
On several hosts (Cloud TPU pods, Slurm), pass --jax_distributed on every
host: `jax.distributed.initialize()` then finds the others.
"""


from absl import app
from absl import flags
from ml_collections import config_flags

from vit_jax import cli
from vit_jax.runtime import deterministic_kernels
from vit_jax.runtime import early_interrupt
from vit_jax.runtime import host_devices
from vit_jax.runtime import host_malloc

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


def _process_args(value):
  """--processes=ADDR,N,I -> initialize()'s keyword arguments ({}: detect)."""
  if not value:
    return {}
  try:
    address, count, index = value.split(',')
    return dict(coordinator_address=address, num_processes=int(count),
                process_id=int(index))
  except ValueError:
    cli.fail(f'--processes={value}: expected COORDINATOR_HOST:PORT,'
          'NUM_PROCESSES,PROCESS_ID')


def main(argv):
  del argv  # parse_flags refused positional arguments.
  if not _WORKDIR.value.strip():
    cli.fail('--workdir must name a directory')
  try:
    _start(_CONFIG.value)
  except KeyboardInterrupt:  # Ctrl-C before training started, or twice.
    cli.fail('interrupted; checkpoints already complete are kept, the same '
             'command resumes from the latest', code=130)


def _start(config) -> None:
  """Sets the process up for the config, then runs it."""
  if not _VERBOSE.value:
    cli.quiet_library_logs()
  if config.get('deterministic'):
    deterministic_kernels.use_deterministic_kernels()
  host_devices.use_one_device_per_core(config,
                                       distributed=_JAX_DISTRIBUTED.value)
  import jax  # Imported late: flag errors return before the slow imports.
  if _JAX_DISTRIBUTED.value:
    jax.distributed.initialize(**_process_args(_PROCESSES.value))
  with cli.user_errors_exit():
    _dispatch(config)


def _dispatch(config) -> None:
  """A sweep (many runs), or the one run of the config's mode."""
  from vit_jax.training import config_validation
  config_validation.validate(config)
  if config.get('sweep'):
    from vit_jax.sweeps import runner
    if _SWEEP_COMMANDS.value:
      runner.print_commands(config, _WORKDIR.value)
    else:
      rows = runner.run_sweep(config, _WORKDIR.value,
                              retry_failed=_RETRY_FAILED.value)
      runner.check_all_ok(rows, _WORKDIR.value)
  else:
    from vit_jax.sweeps import point
    row = point.result_row(config, _WORKDIR.value)
    if config.mode == 'benchmark':
      from vit_jax.benchmarking import report
      print(report.format_row(row))


if __name__ == '__main__':
  host_malloc.restart_with_huge_pages()
  early_interrupt.install()
  app.run(main, flags_parser=lambda argv: cli.parse_flags(argv, _CONFIG))
