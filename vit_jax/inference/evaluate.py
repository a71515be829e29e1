"""mode='eval': loss and accuracy of a run's weights on any split.

  python launch.py --config=configs/default.py:full --workdir=runs/digits_full \
      --config.mode=eval --config.eval_split=train

Evaluates the workdir's latest checkpoint (else `config.init_from`) on
`config.eval_split` and appends one row {'step': its step,
'eval_<split>/loss', 'eval_<split>/accuracy', 'eval_<split>/count'} to
WORKDIR/metrics.jsonl. Checkpoints are only read. The workdir's lock is held
while writing, so this is refused while the run trains there. A workdir
without a run record gets one (this config, mode 'train'): it can then be
trained from init_from with the same command and mode=train.
"""

import copy
import json
import os

import jax

from vit_jax import evaluators
from vit_jax.errors import ConfigError, WriteError
from vit_jax.inference import run_params
from vit_jax.training import metrics_log
from vit_jax.training import trainer
from vit_jax.training import workdir as workdir_lib


def evaluate(config, workdir: str) -> dict[str, float]:
  """Evaluates, appends the metrics row and returns it (without 'step').

  Raises:
    ConfigError: bad config, workdir, split or nothing to evaluate.
    WriteError: the metrics cannot be written.
  """
  run, class_names = trainer.build_run(config, workdir)
  workdir_lib.check(workdir, config, allowed=run_params.ALLOWED_CHANGES)
  split = config.eval_split
  try:
    evaluator = evaluators.get('task_metrics')(run, f'eval_{split}',
                                               split=split)
  except (ValueError, KeyError) as e:
    raise ConfigError(f'config.eval_split={split!r}: '
                      f'{str(e).splitlines()[0]}') from None
  params, step, origin = run_params.load(run, require=True)
  metrics = evaluator.evaluate(params)
  is_writer = jax.process_index() == 0
  with workdir_lib.exclusive(workdir, is_writer=is_writer):
    if is_writer:
      if not workdir_lib.check(workdir, config,
                               allowed=run_params.ALLOWED_CHANGES):
        record = copy.deepcopy(config)
        record.unlock()
        record.mode = 'train'  # The record describes the run, not this call.
        workdir_lib.save_record(workdir, record)
        workdir_lib.save_class_names(workdir, class_names)
      _append_row(workdir, step, metrics)
  if is_writer:
    shown = ', '.join(f'{k.split("/")[-1]} {v:.4f}' for k, v in
                      metrics.items() if not k.endswith('/count'))
    print(f'eval: {split} split ({int(metrics[f"eval_{split}/count"])} '
          f'examples), weights from {origin}: {shown}; appended to '
          f'{os.path.join(workdir, metrics_log.METRICS_FILE)}', flush=True)
  return metrics


def _append_row(workdir: str, step: int, metrics: dict[str, float]) -> None:
  path = os.path.join(workdir, metrics_log.METRICS_FILE)
  row = {'step': int(step), **{k: float(v) for k, v in metrics.items()}}
  try:
    with open(path, 'a') as f:
      f.write(json.dumps(row) + '\n')
  except OSError as e:
    raise WriteError(f'cannot write the eval metrics to {path}: {e}') from None
