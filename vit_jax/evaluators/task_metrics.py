"""The task's own metrics over a whole split (loss, accuracy, ...).

Options: `split` ('test', 'train' or any split the dataset has). Every
example counts once: the last batch is padded and padding is masked out.
"""

import jax
import numpy as np

from vit_jax import config_rules
from vit_jax.data import input_pipeline
from vit_jax.data import sources
from vit_jax.evaluators import registry
from vit_jax.evaluators.evaluator import Evaluator
from vit_jax.training import mesh as mesh_lib


def make_eval_step(task, model, mesh, params_sharding=None):
  """Jitted `(params, batch) -> sums` of the task over an eval batch;
  params where training keeps them (default: replicated)."""
  return jax.jit(
      lambda params, batch: task.eval_sums(model, params, batch),
      in_shardings=(params_sharding or mesh_lib.replicated(mesh),
                    mesh_lib.batch_sharded(mesh)),
      out_shardings=mesh_lib.replicated(mesh))


@registry.register('task_metrics')
class TaskMetrics(Evaluator):
  """`<name>/<metric>` for each metric of the task, over one split."""
  OPTION_RULES = {'split': config_rules.text}

  def __init__(self, run, name: str, *, split: str = 'test'):
    super().__init__(run, name, split=split)
    self.split = split
    # Opened now (cached), so an unknown split is refused before training.
    sources.open_split(run.config, split)
    self._step = make_eval_step(run.task, run.model, run.mesh,
                                run.state_sharding.params)

  def evaluate(self, params) -> dict[str, float]:
    totals = None
    for local_batch in input_pipeline.eval_batches(
        self.run.config, split=self.split, process_index=jax.process_index(),
        process_count=jax.process_count()):
      sums = self._step(params, mesh_lib.shard_batch(local_batch,
                                                     self.run.mesh))
      totals = sums if totals is None else jax.tree.map(np.add, totals, sums)
    metrics = self.run.task.eval_metrics(jax.device_get(totals))
    return {f'{self.name}/{k}': v for k, v in metrics.items()}
