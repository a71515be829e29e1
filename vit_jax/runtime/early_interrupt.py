"""Ctrl-C before the trainer's own handler is installed.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread is;
during start-up that can be inside a garbage-collection callback of XLA,
which swallows it, and the run then trains on as if nothing happened. Entry
points call `install()` first: the handler remembers the Ctrl-C as well as
raising, and the trainer asks `happened()` when it takes over signals.
"""

import signal

_happened = False


def _handler(signum, frame):
  del signum, frame
  global _happened
  _happened = True
  raise KeyboardInterrupt


def install() -> None:
  """Remembers a Ctrl-C from now on (main thread only)."""
  signal.signal(signal.SIGINT, _handler)


def happened() -> bool:
  """Whether a Ctrl-C arrived since `install()`, raised or swallowed."""
  return _happened
