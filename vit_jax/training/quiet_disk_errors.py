"""Keeps a full or read-only disk to the one line the trainer prints.

Orbax's and TensorBoard's writer threads print their own tracebacks when a
write fails for lack of space; the training loop learns of the same failure
(`Checkpointer.check_for_errors`, a failed log write) and ends with one
`error:` line naming the step and the intact checkpoints. While this context
is active, threads other than the main one that die of such an error die
quietly (after a failed run, any background thread does), and so do the
callbacks that tensorstore still delivers to the event loop of an aborted
asynchronous save ("Event loop is closed"); every other exception is printed
as usual.
"""

import contextlib
import errno
import sys
import threading
from typing import Iterator

DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
# How tensorstore (orbax's writer) words the same failures in its ValueErrors.
DISK_MESSAGES = ('RESOURCE_EXHAUSTED', 'No space left on device',
                 'Read-only file system')


def is_disk_message(text: str) -> bool:
  return any(m in text for m in DISK_MESSAGES)


def is_disk_error(error: BaseException) -> bool:
  """An error (or one it was raised from) of a full or read-only disk."""
  while error is not None:
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
      return True
    if is_disk_message(str(error)):
      return True
    error = error.__cause__ or error.__context__
  return False


@contextlib.contextmanager
def quiet_disk_errors() -> Iterator[None]:
  previous_thread_hook = threading.excepthook
  previous_unraisable_hook = sys.unraisablehook

  failed = []  # Non-empty once the run is ending with its own error.

  def thread_hook(args):
    # After a failure, writer threads torn down mid-operation die of
    # follow-on errors ("handle is closed"): the error line says it all.
    if not (failed or is_disk_error(args.exc_value)):
      previous_thread_hook(args)

  def unraisable_hook(args):  # Where tensorstore's callbacks report.
    if not (isinstance(args.exc_value, RuntimeError)
            and str(args.exc_value) == 'Event loop is closed'):
      previous_unraisable_hook(args)

  threading.excepthook = thread_hook
  sys.unraisablehook = unraisable_hook
  try:
    yield
  except BaseException:
    failed.append(True)
    raise
  # Only after a clean exit: after a failure the writer threads may still
  # die of it while the interpreter shuts down.
  threading.excepthook = previous_thread_hook
  sys.unraisablehook = previous_unraisable_hook
