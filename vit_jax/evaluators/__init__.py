"""Evaluators, registered by kind; `config.evals` lists which run, how often.
Importing this package registers all of them."""

from vit_jax.evaluators import task_metrics  # noqa: F401  (registers it)
from vit_jax.evaluators.evaluator import Evaluator  # noqa: F401
from vit_jax.evaluators.registry import get, names, register  # noqa: F401
