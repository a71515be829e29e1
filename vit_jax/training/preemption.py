"""Stopping cleanly when the machine is about to go away (SIGTERM).

A preempted Cloud TPU VM (and Slurm, Kubernetes, `kill`) sends SIGTERM and
waits a little before killing the process. The trainer asks `requested(step)`
after every step; once true it saves a checkpoint at that step and exits 0, so
the same command started again resumes there.

One process: a SIGTERM handler sets a flag. Several processes: JAX's
distributed runtime already watches SIGTERM and makes every host agree on the
step at which to stop (`CheckpointManager.reached_preemption`); a Python
handler here would replace that one and leave the other hosts waiting.
"""

import signal
import threading
from typing import Callable

import jax


class PreemptionWatcher:
  """Use as a context manager around the training loop."""

  def __init__(self, reached_preemption: Callable[[int], bool]):
    """`reached_preemption(step)`: the multi-host agreement (orbax's)."""
    self._reached_preemption = reached_preemption
    self._received = threading.Event()
    self._previous = None
    self._single_process = jax.process_count() == 1

  def __enter__(self) -> 'PreemptionWatcher':
    # Signal handlers can only be set from the main thread (tests may train
    # from others: those get no handler and rely on the default action).
    if (self._single_process
        and threading.current_thread() is threading.main_thread()):
      self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
    return self

  def __exit__(self, *exc) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None

  def _on_sigterm(self, signum, frame) -> None:
    del signum, frame  # Only flag it: the loop stops after the current step.
    self._received.set()

  def requested(self, step: int) -> bool:
    """Whether to save and stop after `step`."""
    if self._single_process:
      return self._received.is_set()
    return self._reached_preemption(step)
