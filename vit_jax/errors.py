"""The errors a user sees as one `error: ...` line, in one module: every
layer raises these, and the entry points (vit_jax/cli.py) map each to an exit
code. Their messages are single lines meant for people."""


class ConfigError(ValueError):
  """A config, or a workdir, that cannot run: exit 2, nothing touched."""


class WriteError(OSError):
  """A file of the workdir could not be written (disk full, read-only): exit
  2; what was written before stays valid."""


class CheckpointWriteError(WriteError):
  """A checkpoint could not be written (disk full, unwritable workdir)."""


class NonFiniteError(RuntimeError):
  """The loss, the gradient or the parameters became NaN or infinite: exit 1,
  nothing after the last good checkpoint saved."""


class CorruptImageError(ValueError):
  """An image that cannot be decoded (and skip_corrupt is off): exit 1."""


class SweepFailedError(RuntimeError):
  """Some points of a sweep failed (the others' results are kept): exit 1."""


class Stopped(Exception):
  """Training stopped on a signal after saving a checkpoint at `step`.

  SIGTERM (a preemption) exits 0 so that schedulers restart the job; SIGINT
  (Ctrl-C) exits 130, as an interrupted command does.
  """

  def __init__(self, step: int, directory: str, signal_name: str = 'SIGTERM'):
    super().__init__(f'{signal_name} received: checkpoint saved at step '
                     f'{step} in {directory}; run the same command to resume')
    self.step = step
    self.signal_name = signal_name

  @property
  def exit_code(self) -> int:
    return 130 if self.signal_name == 'SIGINT' else 0


def exit_code(error: BaseException) -> int | None:
  """The exit code of a user-facing error, None for anything else (a bug)."""
  if isinstance(error, Stopped):
    return error.exit_code
  if isinstance(error, (ConfigError, WriteError)):
    return 2
  if isinstance(error, (NonFiniteError, CorruptImageError, SweepFailedError)):
    return 1
  return None
