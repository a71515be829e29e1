"""Stopping cleanly when the machine is about to go away (SIGTERM) or the
user presses Ctrl-C (SIGINT).

A preempted Cloud TPU VM (and Slurm, Kubernetes, `kill`) sends SIGTERM and
waits a little before killing the process. The trainer asks `requested(step)`
after every step; once true it saves a checkpoint at that step and exits (0
for SIGTERM, 130 for Ctrl-C), so the same command started again resumes there.

One process: a SIGTERM or SIGINT handler records the signal; a second Ctrl-C
aborts at once (KeyboardInterrupt), for a save that takes too long. Several
processes: JAX's distributed runtime already watches SIGTERM and makes every host agree on the
step at which to stop (`CheckpointManager.reached_preemption`); a Python
handler here would replace that one and leave the other hosts waiting.
"""

import signal
import threading
from typing import Callable, Optional

import jax

from vit_jax.runtime import early_interrupt


class PreemptionWatcher:
  """Use as a context manager around the training loop."""

  def __init__(self, reached_preemption: Callable[[int], bool]):
    """`reached_preemption(step)`: the multi-host agreement (orbax's)."""
    self._reached_preemption = reached_preemption
    self._received: Optional[str] = None  # Name of the first signal.
    self._previous = {}
    self._single_process = jax.process_count() == 1

  def __enter__(self) -> 'PreemptionWatcher':
    # Signal handlers can only be set from the main thread (tests may train
    # from others: those get no handler and rely on the default action).
    # Several processes: JAX's runtime owns SIGTERM, and a Ctrl-C reaching
    # one host only must not make it stop alone (the others would wait).
    if (self._single_process
        and threading.current_thread() is threading.main_thread()):
      if early_interrupt.happened():  # A Ctrl-C something swallowed.
        raise KeyboardInterrupt
      for signum in (signal.SIGTERM, signal.SIGINT):
        self._previous[signum] = signal.signal(signum, self._on_signal)
    return self

  def __exit__(self, *exc) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}

  def _on_signal(self, signum, frame) -> None:
    del frame  # Only record it: the loop stops after the current step.
    if signum == signal.SIGINT and self._received == 'SIGINT':
      raise KeyboardInterrupt  # Second Ctrl-C: the user will not wait.
    if self._received is None:
      self._received = signal.Signals(signum).name

  def requested(self, step: int) -> Optional[str]:
    """The signal ('SIGTERM', 'SIGINT') to save and stop for after `step`."""
    if self._single_process:
      return self._received
    return 'SIGTERM' if self._reached_preemption(step) else None
