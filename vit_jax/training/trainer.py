"""Training and prediction from a config: the functions launch.py calls."""

import contextlib
import copy
import dataclasses
import math
import os
import statistics
import sys
import time
from typing import Any, Callable, Iterator

import flax.linen as nn
import jax
import numpy as np
import optax
from jax.sharding import Mesh

from vit_jax import errors
from vit_jax import evaluators as evaluators_lib
from vit_jax import models
from vit_jax import tasks
from vit_jax.data import input_pipeline
from vit_jax.runtime import early_interrupt
from vit_jax.training import checkpointing
from vit_jax.training import config_checks
from vit_jax.training import config_validation
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import metrics_log
from vit_jax.training import optimizer as optimizer_lib
from vit_jax.training import preemption
from vit_jax.training import quiet_disk_errors
from vit_jax.training import steps
from vit_jax.training import train_state
from vit_jax.training import workdir as workdir_lib
from vit_jax.training.metrics_log import MetricsLogger


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything about a run that is fixed before the first step."""
  config: Any
  workdir: str
  info: input_pipeline.DatasetInfo
  task: tasks.Task
  model: nn.Module
  mesh: Mesh
  total_steps: int
  schedule: optax.Schedule
  tx: optax.GradientTransformation
  state_sharding: train_state.TrainState  # NamedSharding per array.

  def state_args(self) -> tuple:
    """What create/abstract_train_state take for this run."""
    return (self.model, self.tx, self.task.init_inputs(self.info),
            self.config.seed, self.mesh, self.state_sharding)


def _total_steps(config, num_train: int) -> int:
  if config.total_steps is not None:
    return int(config.total_steps)
  steps_per_epoch = max(1, num_train // config.batch_size)
  return max(1, math.ceil(config.total_epochs * steps_per_epoch))


def build_run(config, workdir: str) -> tuple[Run, list[str]]:
  """Checks the config and builds the run's parts; writes nothing.

  Returns:
    The run and the dataset's class names.

  Raises:
    ConfigError: with a one-line message.
  """
  config_validation.validate(config)
  mesh = config_checks.checked_mesh(config)
  task = tasks.make_task(config)
  try:
    info = input_pipeline.dataset_info(config)
    class_names = input_pipeline.class_names(config)
    task.check(info)
  except ValueError as e:
    raise errors.ConfigError(str(e)) from None
  model = models.get_model(config.model, **task.model_kwargs(info))
  config_checks.check_model(model, task.init_inputs(info))
  total = _total_steps(config, info.num_train)
  schedule = optimizer_lib.learning_rate_schedule(config.lr, total)
  tx = optimizer_lib.make_optimizer(config, schedule)
  shardings = train_state.state_shardings(
      model, tx, task.init_inputs(info), config.seed, mesh,
      config.sharding_rules)
  run = Run(config=config, workdir=workdir, info=info, task=task, model=model,
            mesh=mesh, total_steps=total, schedule=schedule, tx=tx,
            state_sharding=shardings)
  try:  # Evaluators check their options (and open their splits) now.
    Evaluations(run)
  except (ValueError, TypeError) as e:
    raise errors.ConfigError(f'config.evals: {str(e).splitlines()[0]}'
                             ) from None
  return run, class_names


def check_workdir(run: Run, class_names: list[str]) -> None:
  """Everything about the workdir that could refuse this run; reads only.

  Raises:
    ConfigError: another config's run, a broken record, changed classes, or
      a run already past this config's total_steps.
  """
  workdir = run.workdir
  checkpoints = os.path.join(workdir, 'checkpoints')
  if os.path.lexists(checkpoints) and not os.path.isdir(checkpoints):
    raise errors.ConfigError(
        f'{checkpoints} is not a directory: the run\'s checkpoints cannot be '
        'read or written; move it away or use a new --workdir (nothing was '
        'changed)')
  if workdir_lib.check(workdir, run.config):
    workdir_lib.check_class_names(workdir, class_names)
  steps_saved = checkpointing.saved_steps(workdir)
  if steps_saved and steps_saved[-1] > run.total_steps:
    raise errors.ConfigError(
        f'the run in {workdir} is at step {steps_saved[-1]}, past this '
        f'config\'s {run.total_steps} steps; set total_steps >= '
        f'{steps_saved[-1]} (or use a new --workdir) to go on')
  if not steps_saved and run.config.get('init_from'):
    # A fresh run: weights that cannot be loaded refuse it, unwritten.
    from vit_jax.weights import initial_state  # pylint: disable=g-import-not-at-top
    initial_state.check(run)


def load_state(workdir: str) -> tuple[Any, train_state.TrainState]:
  """The config saved in a run's workdir and its latest checkpoint's state.

  For evaluation, analysis and comparisons of finished (or running) runs:
  reads WORKDIR/config.json and WORKDIR/checkpoints, writes nothing.

  The state is restored replicated on this machine's devices, whatever mesh
  and sharding rules trained it (a run of 8 devices loads on a laptop).

  Raises:
    ConfigError: no run or no checkpoint in `workdir`.
  """
  config = workdir_lib.load_config(workdir)
  placed = copy.deepcopy(config)
  placed.mesh, placed.sharding_rules = mesh_lib.DEFAULT_AXES, ()
  run, _ = build_run(placed, workdir)
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise errors.ConfigError(f'no checkpoint in {workdir}')
  ckpt = checkpointing.Checkpointer(workdir, every_steps=1, max_to_keep=None,
                                    read_only=True)
  try:
    if ckpt.latest_step() is None:
      raise errors.ConfigError(f'no checkpoint in {workdir}')
    return config, restore_or_create_state(run, ckpt)
  finally:
    ckpt.close()


def _warn(message: str) -> None:
  if jax.process_index() == 0:
    print(f'warning: {message}', file=sys.stderr, flush=True)


def restore_or_create_state(run: Run, ckpt: checkpointing.Checkpointer,
                            data_iterator=None, *, set_aside: bool = False):
  """The newest readable checkpoint in the workdir, or a fresh state.

  A checkpoint that cannot be read (a file lost or truncated by a crash or a
  full disk) is skipped with a warning and the next older one is tried; if
  none fits, the run is refused (its config does not match).

  Args:
    run: the run.
    ckpt: the workdir's checkpointer.
    data_iterator: if given (the train batches, positioned at step 0), its
      position is restored from the checkpoint as well.
    set_aside: move skipped checkpoints to WORKDIR/unreadable_checkpoints/
      (kept, out of the way of the steps about to be saved again); for the
      training run only, which holds the workdir's lock.

  Raises:
    ConfigError: no checkpoint fits this run.
  """
  args = run.state_args()
  steps_saved = ckpt.all_steps()
  if not steps_saved:
    if run.config.get('init_from'):  # Fresh run from given weights.
      from vit_jax.weights import initial_state  # pylint: disable=g-import-not-at-top
      return initial_state.create(run)
    return train_state.create_train_state(*args)
  abstract = train_state.abstract_train_state(*args)
  skipped, first_error = [], None
  for step in reversed(steps_saved):
    try:
      state = ckpt.restore(abstract, data_iterator, step=step)
    except Exception as e:  # Orbax raises several types for a bad tree.
      detail = str(e).splitlines()[0].split(' See full')[0][:160]
      reason = f'{type(e).__name__}: {detail}'
      first_error = first_error or reason
      skipped.append((step, reason))
      continue
    break
  else:
    raise errors.ConfigError(
        f'no checkpoint in {ckpt.directory} fits this run (step '
        f'{steps_saved[-1]}: {first_error}); use a new --workdir') from None
  for bad_step, reason in skipped:
    where = 'kept in place'
    if set_aside and jax.process_index() == 0:
      where = f'moved to {ckpt.set_aside(bad_step)}'
    _warn(f'checkpoint {bad_step} in {ckpt.directory} cannot be read '
          f'({reason}); resumed from step {step} instead; step {bad_step} '
          f'{where}')
  if data_iterator is not None:
    # Batches are a pure function of the step; a mismatch would mean
    # training on other data than an uninterrupted run would.
    position = data_iterator.get_state()['next_index']
    if position != int(jax.device_get(state.step)):
      raise errors.ConfigError(
          f'checkpoint {step} in {run.workdir}: input position '
          f'{position} != model step {int(state.step)}')
  return state


class Evaluations:
  """The config's evaluators (`config.evals`), each run on its own schedule.

  `latest` holds every evaluator's most recent metrics: the run's final
  result once the last step was evaluated.
  """

  def __init__(self, run: Run):
    self._every, self._evaluators = {}, {}
    for name, entry in run.config.evals.items():
      options = dict(entry)
      kind, every = options.pop('kind'), options.pop('every_steps', None)
      self._every[name] = every or run.config.eval_every_steps
      self._evaluators[name] = evaluators_lib.get(kind)(run, name, **options)
    self.latest: dict[str, float] = {}

  def due(self, step: int, *, last: bool) -> list[str]:
    return [name for name, every in self._every.items()
            if last or step % every == 0]

  def run(self, names: list[str], params) -> dict[str, float]:
    """Metrics of the evaluators `names` (all processes call this)."""
    metrics = {}
    for name in names:
      metrics.update(self._evaluators[name].evaluate(params))
    self.latest.update(metrics)
    return metrics


def summary_line(config, final: dict[str, float], step: int) -> str:
  """'final test accuracy 0.9972 (359/360) at step N' for the summary metric."""
  metric = config.summary_metric
  prefix, _, name = metric.partition('/')
  value = final[metric]
  line = f'final {prefix} {name} {value:.4f}'
  count = final.get(f'{prefix}/count')
  if name == 'accuracy' and count:
    line += f' ({int(round(value * count))}/{int(count)})'
  return f'{line} at step {step}'


def check_finite(pending: list[tuple[int, dict[str, Any]]],
                 ckpt: checkpointing.Checkpointer) -> list[tuple[int, dict]]:
  """Fetches the pending step metrics; raises at the first non-finite one.

  Called before every log and every checkpoint, so a checkpoint never holds
  parameters updated by a non-finite gradient.
  """
  fetched = jax.device_get(pending)
  for step, metrics in fetched:
    # The parameter norm is of the parameters after the update, i.e. of
    # the state a checkpoint would hold (lr=nan makes only those NaN).
    bad = [k for k in ('train/loss', 'train/grad_norm', 'train/param_norm')
           if not np.isfinite(metrics[k])]
    if bad:
      latest = ckpt.latest_step()
      raise errors.NonFiniteError(
          f'non-finite {" and ".join(k.split("/")[1] for k in bad)} '
          f'({float(metrics[bad[0]])}) at step {step}; stopped without '
          'saving; last good checkpoint: '
          + (f'step {latest} in {ckpt.directory}' if latest else 'none'))
  return fetched


def _mean_metrics(fetched: list[tuple[int, dict[str, Any]]]
                  ) -> dict[str, float]:
  return {k: float(np.mean([m[k] for _, m in fetched])) for k in fetched[0][1]}


class _Progress:
  """Averages train metrics between logs; throughput without compilation."""

  def __init__(self, run: Run, log: MetricsLogger, start: int):
    self._run, self._log = run, log
    self._since = (time.time(), start)

  def first_step_done(self, state, step: int) -> None:
    jax.block_until_ready(state)
    self._log.info(f'first step (with compilation) took '
                   f'{time.time() - self._since[0]:.1f} s')
    self._since = (time.time(), step)

  def write(self, step: int, fetched) -> None:
    row = _mean_metrics(fetched)
    elapsed, done = time.time() - self._since[0], step - self._since[1]
    if done:  # One unit (image, sequence, ...) per example.
      row[f'train/{self._run.task.unit}_per_s'] = (
          done * self._run.config.batch_size / elapsed)
    self._log.write(step, row)
    self._log.progress(step, row)
    self._since = (time.time(), step)


@contextlib.contextmanager
def _locked_run(config, workdir: str
                ) -> Iterator[tuple[Run, bool, Callable[[], None]]]:
  """Checks the config and the workdir (reading only), takes its lock,
  checks again (another run may have started meanwhile); yields (run,
  is_writer, record) while holding the lock. `record()` writes the run's
  config.json and class names: call it once the run cannot be refused any
  more (its checkpoint restored), so a refused run has changed nothing.

  Raises:
    ConfigError: with a one-line message.
  """
  run, class_names = build_run(config, workdir)
  check_workdir(run, class_names)
  is_writer = jax.process_index() == 0

  def record():
    if is_writer:
      workdir_lib.save_record(workdir, config)
      workdir_lib.save_class_names(workdir, class_names)

  with workdir_lib.exclusive(workdir, is_writer=is_writer):
    check_workdir(run, class_names)
    yield run, is_writer, record


def prepare_run(config, workdir: str) -> Run:
  """Checks the config and the workdir, then records the run in it (for
  scripts and tests that drive steps themselves).

  Raises:
    ConfigError: with a one-line message; nothing was written then.
  """
  with _locked_run(config, workdir) as (run, _, record):
    record()
    return run


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
  """Trains (resuming from the workdir if possible) and returns final metrics.

  A run that is refused has changed nothing (see `_locked_run`).

  Raises:
    ConfigError: bad config or workdir, or a checkpoint that cannot be
      written.
    Stopped: SIGTERM or SIGINT arrived; a checkpoint of the step was saved.
    NonFiniteError: NaN/inf loss, gradient or parameters; nothing after the
      last good checkpoint was saved.
  """
  with _locked_run(config, workdir) as (run, is_writer, record):
    return _train_in_workdir(run, is_writer, record)


def _train_in_workdir(run: Run, is_writer: bool,
                      record: Callable[[], None]) -> dict[str, float]:
  """train_and_evaluate once the workdir is checked and locked; `record`
  writes its config.json."""
  config, workdir = run.config, run.workdir
  if early_interrupt.happened():  # Swallowed during start-up: stop now,
    raise KeyboardInterrupt       # before anything is opened or written.
  if not checkpointing.saved_steps(workdir):
    # Nothing can refuse a fresh run now; recorded before any run file
    # exists, so a kill from here on leaves a workdir that resumes.
    record()
  ckpt = checkpointing.Checkpointer(
      workdir, every_steps=config.checkpoint_every_steps,
      max_to_keep=config.max_to_keep)
  batches = input_pipeline.train_batches(
      config, process_index=jax.process_index(),
      process_count=jax.process_count())
  log = None
  # From here on a SIGTERM or SIGINT only sets a flag: the loop saves after
  # its next step (the first one included, which compiles), and one that
  # comes while closing lets the finished run end normally.
  with preemption.PreemptionWatcher(ckpt.reached_preemption) as watcher, \
      quiet_disk_errors.quiet_disk_errors():
    try:
      state = restore_or_create_state(run, ckpt, batches, set_aside=True)
      record()  # Only now: a run refused by its checkpoints wrote nothing.
      start = int(jax.device_get(state.step))
      # Rows past `start` were logged by a run killed after its last
      # checkpoint; the steps are about to be run again (identically).
      log = MetricsLogger(workdir, total_steps=run.total_steps,
                          is_writer=is_writer, resume_step=start)
      log.info(f'model: {train_state.count_params(state.params):,} '
               f'parameters, {run.mesh.size} device(s), {run.total_steps} '
               'steps' + (f', resumed from step {start}' if start else ''))
      state, final = _train_loop(run, state, batches, ckpt, log, watcher,
                                 start)
    except BaseException:
      # Close without letting a second failure (a flush on a full disk)
      # hide the first one.
      _close_quietly(ckpt, log)
      raise
    ckpt.close()  # The last async save completes; raises if it failed.
    log.close()
  log.info(f'{summary_line(config, final, run.total_steps)}; '
           f'workdir {workdir}')
  return final


def _close_quietly(ckpt: checkpointing.Checkpointer,
                   log: MetricsLogger | None) -> None:
  for close in (ckpt.close, log.close if log else None):
    try:
      if close:
        close()
    except Exception:  # pylint: disable=broad-except
      pass  # The error being raised already says what went wrong.


def _already_logged(workdir: str, step: int, metrics) -> bool:
  """Whether metrics.jsonl has a row of `step` with all of `metrics`' keys
  (a finished run started again re-evaluates; its rows stay one per step)."""
  try:
    rows = metrics_log.read_metrics(workdir)
  except (OSError, ValueError):
    return False
  return any(r.get('step') == step and set(metrics) <= set(r) for r in rows)


def _train_loop(run: Run, state, batches, ckpt, log, watcher, start: int):
  """Steps from `start` to the end; returns (state, final test metrics)."""
  config = run.config
  train_step = steps.make_train_step(
      run.model, run.task, run.tx, run.schedule, seed=config.seed,
      mesh=run.mesh, accum_steps=config.grad_accum_steps,
      state_sharding=run.state_sharding)
  evaluations = Evaluations(run)
  progress = _Progress(run, log, start)
  pending = []
  for step in range(start + 1, run.total_steps + 1):
    state, metrics = train_step(state, mesh_lib.shard_batch(next(batches),
                                                            run.mesh))
    pending.append((step, metrics))
    if step == start + 1:  # Keep compilation out of the throughput figure.
      progress.first_step_done(state, step)
    ckpt.check_for_errors()  # A failed async save stops the run now.
    last, stop = step == run.total_steps, watcher.requested(step)
    if step % config.log_every_steps == 0 or last:
      progress.write(step, check_finite(pending, ckpt))
      pending = []
    due = evaluations.due(step, last=last)
    if due:
      log.write(step, evaluations.run(due, state.params))
    if last or stop or ckpt.should_save(step):
      check_finite(pending, ckpt)
      ckpt.save(step, state, batches)
    if stop and not last:
      ckpt.wait()  # "saved" must be true when we say it.
      raise errors.Stopped(step, ckpt.directory, stop)
  if start >= run.total_steps:  # Nothing left to train: report the result.
    metrics = evaluations.run(evaluations.due(start, last=True), state.params)
    if not _already_logged(run.workdir, start, metrics):
      log.write(start, metrics)
  return state, evaluations.latest


def predict(config, workdir: str, *, repeats: int = 3) -> np.ndarray:
  """One forward pass on a random batch of the config's shapes; times it.

  Uses the workdir's newest readable checkpoint if there is one (the run's
  config must match), else fresh weights. Reads only: no lock, nothing
  written or cleaned, so it is safe on a running run and on a read-only
  workdir. Returns the model's outputs (logits [batch, num_classes] for
  classification).
  """
  run, _ = build_run(config, workdir)
  workdir_lib.check(workdir, config, allowed=workdir_lib.READ_ONLY_CHANGES)
  if checkpointing.saved_steps(workdir):
    ckpt = checkpointing.Checkpointer(workdir, every_steps=1,
                                      max_to_keep=None, read_only=True)
    try:
      params = restore_or_create_state(run, ckpt).params
    finally:
      ckpt.close()
  else:  # A read-only manager needs the folder: fresh weights without it.
    params = train_state.create_train_state(*run.state_args()).params
  batch = run.task.random_batch(run.info, config.predict_batch_size,
                                np.random.default_rng(config.seed))
  forward = steps.make_predict_fn(run.model, run.task, run.mesh)
  t0 = time.time()
  outputs = jax.block_until_ready(forward(params, batch))
  compile_s = time.time() - t0
  times = []
  for _ in range(repeats):
    t0 = time.time()
    jax.block_until_ready(forward(params, batch))
    times.append(time.time() - t0)
  example_shape = run.task.init_inputs(run.info)[0].shape[1:]
  inputs = (f'{config.predict_batch_size} example(s) '
            f'{"x".join(map(str, example_shape))}')
  length = getattr(run.model, 'sequence_length', None)
  if length:
    inputs += f' -> {length(example_shape)} tokens'
  outputs = np.asarray(outputs)
  print(f'predict: {inputs}; first call (with compilation) {compile_s:.2f} s, '
        f'forward median {statistics.median(times):.3f} s over {repeats}; '
        f'{run.task.describe(batch, outputs)}', flush=True)
  return outputs
