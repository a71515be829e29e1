"""A registry of tasks, chosen by `config.task` (None: the model's default).

Adding a task: one module in vit_jax/tasks/ with a `task.Task` subclass
decorated with `registry.register(name)`, plus its import line in
tasks/__init__.py.
"""

from vit_jax.registry import Registry

_REGISTRY = Registry('task')
register = _REGISTRY.register
unregister = _REGISTRY.unregister
names = _REGISTRY.names
get = _REGISTRY.get
