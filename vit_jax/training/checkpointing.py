"""Orbax checkpoints of the train state and the input position: async,
periodic, resumable, preemption-aware."""

import errno
import os
import re
import shutil
from typing import Optional

import grain
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from vit_jax.errors import CheckpointWriteError
from vit_jax.training.train_state import TrainState

# Metadata, the input state and OCDBT's index, beyond the arrays' bytes.
_SAVE_OVERHEAD = 2**20
# What orbax and tensorstore raise for a write that failed (disk full, ...).
_WRITE_ERRORS = (OSError, ValueError, RuntimeError)


def saved_steps(workdir: str) -> list[int]:
  """Steps of the complete checkpoints in WORKDIR/checkpoints, oldest first,
  from the folder names alone (orbax renames a step's folder when done)."""
  path = os.path.join(workdir, 'checkpoints')
  names = os.listdir(path) if os.path.isdir(path) else []
  return sorted(int(n) for n in names if n.isdigit())


class Checkpointer:
  """Saves TrainState and the train-batch iterator under WORKDIR/checkpoints.

  Each checkpoint holds two items: 'state' (parameters, optimizer state,
  step) and 'data' (grain's iterator state: the index of the next batch, one
  file per process). Orbax writes each step into a temporary folder and
  renames it when complete, so a run killed mid-save resumes from the previous
  checkpoint; a failed write leaves the earlier checkpoints as they were.
  """

  def __init__(self, workdir: str, *, every_steps: int,
               max_to_keep: Optional[int], read_only: bool = False):
    """`read_only`: for reading another (maybe running) run's checkpoints:
    creates, saves, deletes and cleans up nothing."""
    # Every `every_steps` (orbax's default policy would also save step 1), and
    # when a preemption notice arrives (multi-host runs).
    policy = checkpoint_managers.AnySavePolicy([
        checkpoint_managers.FixedIntervalPolicy(every_steps),
        checkpoint_managers.PreemptionCheckpointingPolicy()])
    options = ocp.CheckpointManagerOptions(
        save_decision_policy=None if read_only else policy,
        max_to_keep=None if read_only else max_to_keep,
        enable_async_checkpointing=True, read_only=read_only,
        create=not read_only, cleanup_tmp_directories=not read_only)
    self.directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'data': grain.checkpoint.CheckpointHandler()})
    self._pending: Optional[int] = None  # Step of the last save started.

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """Steps of the complete checkpoints, oldest first."""
    return sorted(self._manager.all_steps())

  def restore(self, abstract_state: TrainState,
              data_iterator: Optional[grain.DatasetIterator] = None,
              step: Optional[int] = None) -> TrainState:
    """Restores checkpoint `step` (default: the latest) onto the shardings of
    `abstract_state`.

    If `data_iterator` is given, its position is restored too (in place).
    """
    items = {'state': ocp.args.StandardRestore(abstract_state)}
    if data_iterator is not None:
      items['data'] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self._manager.restore(
        self._manager.latest_step() if step is None else step,
        args=ocp.args.Composite(**items))
    return restored['state']

  def set_aside(self, step: int) -> str:
    """Moves checkpoint `step` (unreadable) out of orbax's sight, keeping it.

    Returns:
      Its new path, WORKDIR/unreadable_checkpoints/STEP[.N].
    """
    target_dir = os.path.join(os.path.dirname(self.directory),
                              'unreadable_checkpoints')
    os.makedirs(target_dir, exist_ok=True)
    target, n = os.path.join(target_dir, str(step)), 1
    while os.path.exists(target):
      target, n = os.path.join(target_dir, f'{step}.{n}'), n + 1
    os.rename(os.path.join(self.directory, str(step)), target)
    self._manager.reload()
    return target

  def check_for_errors(self) -> None:
    """Raises now if an asynchronous save has failed (else the loop would
    learn of it only at the next save).

    Raises:
      CheckpointWriteError: the last save failed.
    """
    try:
      self._manager.check_for_errors()
    except _WRITE_ERRORS as e:
      raise self._write_error(self._pending, e) from None
    # Orbax's finalising thread logs (and swallows) a failed write; a save
    # that is over but left no step folder is such a failure.
    if self._pending is not None and not self._manager.is_saving_in_progress():
      step, self._pending = self._pending, None
      if not os.path.isdir(os.path.join(self.directory, str(step))):
        self._pending = step
        raise self._write_error(step, OSError(
            errno.EIO, 'the asynchronous write did not complete (see '
            f'{self.directory} for its temporary folder; is the disk full?)'))

  def wait(self) -> None:
    """Waits until the pending save is complete.

    Raises:
      CheckpointWriteError: it failed.
    """
    try:
      self._manager.wait_until_finished()
    except _WRITE_ERRORS as e:
      raise self._write_error(self._pending, e) from None

  def should_save(self, step: int) -> bool:
    """Whether `step` is due for a save (interval or preemption notice)."""
    return (step != self._manager.latest_step()
            and self._manager.should_save(step))

  def reached_preemption(self, step: int) -> bool:
    """True on every host once a multi-host preemption notice is agreed."""
    return self._manager.reached_preemption(step)

  def save(self, step: int, state: TrainState,
           data_iterator: grain.DatasetIterator) -> bool:
    """Saves `step` (asynchronously); False if it is saved already.

    The caller decides when: `should_save`, the last step or a stop. On
    several hosts every host must decide alike (should_save agrees).

    Raises:
      CheckpointWriteError: this or the previous (async) save failed.
    """
    if step == self._manager.latest_step():
      return False
    self._check_free_space(step, state)
    try:
      saved = self._manager.save(
          step, args=ocp.args.Composite(
              state=ocp.args.StandardSave(state),
              data=grain.checkpoint.CheckpointSave(data_iterator)),
          force=True)
    except _WRITE_ERRORS as e:
      raise self._write_error(step, e) from None
    if saved:
      self._pending = step
    return saved

  def _check_free_space(self, step: int, state: TrainState) -> None:
    """Refuses a save that cannot fit, before orbax starts writing it.

    Orbax reports a full disk from its writer threads, after printing their
    tracebacks; asking first gives one clear line in the common case (the
    disk filled by something else, or a workdir on a small volume). The
    previous checkpoint is deleted only after the new one is complete.
    """
    needed = sum(x.nbytes for x in jax.tree.leaves(state)) + _SAVE_OVERHEAD
    free = shutil.disk_usage(self.directory).free
    if free < needed:
      raise self._write_error(step, OSError(
          errno.ENOSPC, f'{free / 2**20:.1f} MiB free, the checkpoint needs '
          f'~{needed / 2**20:.1f} MiB'))

  def close(self) -> None:
    """Waits for pending async saves; call before exiting.

    Raises:
      CheckpointWriteError: a pending save failed.
    """
    try:
      self.wait()
    finally:
      try:
        self._manager.close()
      except _WRITE_ERRORS:
        pass  # The failure itself was raised by wait().

  def _write_error(self, step, error: Exception) -> CheckpointWriteError:
    try:  # Let an earlier async save finish, so that it counts as complete.
      self._manager.wait_until_finished()
    except _WRITE_ERRORS:
      pass  # That one failed too: it is not listed below.
    complete = saved_steps(os.path.dirname(self.directory))
    kept = (f'earlier checkpoints are intact (latest complete: step '
            f'{complete[-1]})' if complete else 'no earlier checkpoint')
    if isinstance(error, OSError) and error.strerror:
      cause = f'{os.strerror(error.errno)} ({error.strerror})'
    else:
      cause = str(error).splitlines()[0] if str(error) else type(error).__name__
      cause = cause[:200] + ('...' if len(cause) > 200 else '')
    # The failure may be of the previous, asynchronous save: name that step.
    failed = re.search(r'/(\d+)\.orbax-checkpoint-tmp', str(error))
    if failed:
      step = int(failed.group(1))
    return CheckpointWriteError(
        f'cannot write checkpoint{f" of step {step}" if step else ""} to '
        f'{self.directory}: {cause}; {kept}')
