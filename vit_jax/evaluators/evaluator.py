"""The interface of an evaluator: metrics of the current parameters.

The trainer runs each entry of `config.evals` (name -> {kind, every_steps,
...options}) every `every_steps` steps (None: `config.eval_every_steps`) and
at the last step, and logs what it returns under `<name>/<metric>`.
"""

import abc
from typing import Any


class Evaluator(abc.ABC):
  """Base class of evaluators; subclasses are registered by kind.

  Attributes:
    OPTION_RULES: rules (vit_jax.config_rules) for the entry's own options.
  """
  OPTION_RULES: dict[str, Any] = {}

  def __init__(self, run, name: str, **options: Any):
    """Builds what the evaluator needs (jitted functions) for `run`.

    Args:
      run: the trainer's Run (config, task, model, mesh, ...).
      name: the entry's name: the prefix of its metrics.
      **options: the entry's other fields (every_steps excluded).
    """
    self.run = run
    self.name = name
    self.options = options

  @abc.abstractmethod
  def evaluate(self, params) -> dict[str, float]:
    """Metrics of `params`, keyed `<name>/<metric>`; every process calls it."""
