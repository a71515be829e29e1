"""Orbax checkpoints of the train state: async, periodic, resumable."""

import os
from typing import Optional

import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from vit_jax.training.train_state import TrainState


class Checkpointer:
  """Saves TrainState every `every_steps` (and on demand) under WORKDIR/checkpoints.

  Orbax writes each step into a temporary folder and renames it when
  complete, so a run killed mid-save resumes from the previous checkpoint.
  """

  def __init__(self, workdir: str, *, every_steps: int, max_to_keep: int):
    # Every `every_steps` (orbax's default policy would also save step 1), and
    # when a preemption notice arrives (multi-host runs).
    policy = checkpoint_managers.AnySavePolicy([
        checkpoint_managers.FixedIntervalPolicy(every_steps),
        checkpoint_managers.PreemptionCheckpointingPolicy()])
    options = ocp.CheckpointManagerOptions(
        save_decision_policy=policy, max_to_keep=max_to_keep,
        enable_async_checkpointing=True, cleanup_tmp_directories=True)
    self._manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, 'checkpoints')), options=options)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def restore(self, abstract_state: TrainState) -> TrainState:
    """Restores the latest checkpoint onto the shardings of `abstract_state`."""
    step = self._manager.latest_step()
    return self._manager.restore(
        step, args=ocp.args.StandardRestore(abstract_state))

  def maybe_save(self, step: int, state: TrainState, *,
                 force: bool = False) -> bool:
    """Saves if `step` is due (or `force`); returns whether it saved."""
    if step == self._manager.latest_step():
      return False
    return self._manager.save(step, args=ocp.args.StandardSave(state),
                              force=force)

  def close(self) -> None:
    """Waits for pending async saves; call before exiting."""
    self._manager.wait_until_finished()
    self._manager.close()
