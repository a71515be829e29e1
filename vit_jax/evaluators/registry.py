"""A registry of evaluators, chosen by the `kind` of each `config.evals` entry.

Adding an evaluator: one module in vit_jax/evaluators/ with an
`evaluator.Evaluator` subclass decorated with `registry.register(kind)`, plus
its import line in evaluators/__init__.py.
"""

from vit_jax.registry import Registry

_REGISTRY = Registry('evaluator')
register = _REGISTRY.register
unregister = _REGISTRY.unregister
names = _REGISTRY.names
get = _REGISTRY.get
