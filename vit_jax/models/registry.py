"""A registry of models, chosen by `config.model.name`.

A model is a flax module class built from its config section:
`Model(**config.model minus name, **task.model_kwargs(info))`. It may declare

  CONFIG_RULES: rules for its config section (vit_jax.config_rules), checked
    before any work;
  DEFAULT_TASK: the task (vit_jax.tasks) a config gets when it names none;
  sequence_length(input_shape): tokens its encoder sees for one example of
    that shape (for throughput in tokens/s and sweep tables).

Adding a model: one new module in vit_jax/models/ whose class is decorated
with `registry.register(name)`, plus its import line in models/__init__.py.
"""

from vit_jax.registry import Registry

_REGISTRY = Registry('model')
register = _REGISTRY.register
unregister = _REGISTRY.unregister
names = _REGISTRY.names
get = _REGISTRY.get
