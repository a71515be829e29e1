"""One validation pass over a whole config, before anything runs or is written.

Every field that the trainer, the input pipeline, the benchmark or the sweep
runner reads has a rule here (its type, range or allowed values); a config
that breaks one is refused with one line naming the field, e.g.

  error: config.lr.base=-0.001: must be > 0

The model checks its own section (`models.check_config`), so this layer
needs no model's or attention variant's names.
"""

import re
from typing import Optional

from vit_jax import config_rules as r
from vit_jax.errors import ConfigError

MODES = ('train', 'predict', 'eval', 'benchmark')
OPTIMIZERS = ('adamw', 'sgd')
LR_DECAYS = ('cosine', 'constant')
BENCHMARK_KINDS = ('train', 'forward')
MAX_SEED = 2**31 - 1  # jax.random.key takes a signed 32-bit seed everywhere.


def _sweep(value) -> Optional[str]:
  if not isinstance(value, (list, tuple)):
    return 'must be a list of points {"name": ..., "overrides": {...}}'
  for point in value:
    if (not hasattr(point, 'get') or not isinstance(point.get('name'), str)
        or not point['name'] or not hasattr(point.get('overrides'), 'items')):
      return f'bad point {point!r}: expected {{"name": str, "overrides": dict}}'
    if '/' in point['name'] or point['name'] in ('.', '..'):
      return f'point name {point["name"]!r} must be usable as a folder name'
  return None


def _evals(value) -> Optional[str]:
  """config.evals: name -> {kind, every_steps (None or >= 1), options}."""
  if not hasattr(value, 'items'):
    return 'must be a mapping name -> {"kind": ..., ...}'
  for name, entry in value.items():
    if not name or '/' in name:
      return f'eval name {name!r} must be a non-empty metric prefix without /'
    if not hasattr(entry, 'get') or not isinstance(entry.get('kind'), str):
      return f'entry {name!r} needs a kind (an evaluator name)'
    problem = r.integer(low=1, optional=True)(entry.get('every_steps'))
    if problem:
      return f'{name}.every_steps {problem}'
  return None


def _pairs(first: str, second: str, check_second, *, empty: bool = False):
  """A sequence of (first, second) pairs (non-empty unless `empty`)."""
  def rule(value) -> Optional[str]:
    if (isinstance(value, str) or not isinstance(value, (list, tuple))
        or not (value or empty)):
      return f'must be a tuple of ({first}, {second}) pairs'
    for pair in value:
      if (isinstance(pair, str) or not isinstance(pair, (list, tuple))
          or len(pair) != 2 or not isinstance(pair[0], str)
          or not check_second(pair[1])):
        return f'bad pair {pair!r}: expected ({first}, {second})'
    return None
  return rule


def _regexes(value) -> Optional[str]:
  """A tuple of regular expressions (config.init_skip)."""
  if isinstance(value, str) or not isinstance(value, (list, tuple)):
    return 'must be a tuple of regexes, e.g. ("head/.*",)'
  for pattern in value:
    if not isinstance(pattern, str):
      return f'{pattern!r} is not a string'
    try:
      re.compile(pattern)
    except re.error as e:
      return f'bad regex {pattern!r}: {e}'
  return None


# Dotted field -> rule. Fields a config lacks are skipped (configs saved by
# older versions); fields not listed here are not read by the trainer.
RULES: dict[str, r.Rule] = {
    'seed': r.integer(low=0, high=MAX_SEED),
    'mode': r.one_of(MODES),
    'predict_batch_size': r.integer(low=1),
    'predict_inputs': r.optional_text,
    'predict_top_k': r.integer(low=1),
    'eval_split': r.text,
    'init_from': r.optional_text,
    'init_skip': _regexes,
    'deterministic': r.boolean,
    'cpu_device_per_core': r.boolean,
    'dataset': r.text,
    'data_dir': r.optional_text,
    'dataset_fallback': r.optional_text,
    'train_split': r.text,
    'test_split': r.text,
    'num_classes': r.integer(low=1),
    'image_size': r.integer(low=1),
    'input.random_shift': r.integer(low=0),
    'input.resize_size': r.integer(low=1, optional=True),
    'input.train_ops': r.names,
    'input.eval_ops': r.names,
    'input.randaugment': r.randaugment,
    'input.mixup_alpha': r.number(low=0),
    'input.value_range': r.value_range,
    'input.skip_corrupt': r.boolean,
    'input.folder_test_fraction': r.number(low=0, high=1, low_open=True,
                                         high_open=True),
    'input.num_threads': r.integer(low=0),  # 0: in the calling thread.
    'input.prefetch': r.integer(low=0),
    'input.cache_max_bytes': r.integer(low=0),  # 0: never in memory.
    'synthetic.num_train': r.integer(low=1),
    'synthetic.num_test': r.integer(low=1),
    'synthetic.channels': r.integer(low=1, high=4),
    'synthetic.seed': r.integer(low=0, high=2**64 - 1),  # NumPy's seeds.
    'batch_size': r.integer(low=1),
    'eval_batch_size': r.integer(low=1),
    'grad_accum_steps': r.integer(low=1),
    'mesh': _pairs('axis name', 'size', lambda s: isinstance(s, int)
                   and not isinstance(s, bool)),
    'sharding_rules': _pairs('path regex', 'rule',
                             lambda s: isinstance(s, str), empty=True),
    'total_steps': r.integer(low=0, optional=True),
    'total_epochs': r.number(low=0, low_open=True, optional=True),
    'optimizer.name': r.one_of(OPTIMIZERS),
    'optimizer.b1': r.number(low=0, high=1, high_open=True),
    'optimizer.b2': r.number(low=0, high=1, high_open=True),
    'optimizer.weight_decay': r.number(low=0),
    'optimizer.momentum': r.number(low=0, high=1, high_open=True),
    'optimizer.mu_dtype': r.one_of((None, 'bfloat16', 'float32')),
    'lr.base': r.number(low=0, low_open=True),
    'lr.warmup_steps': r.integer(low=0),
    'lr.decay': r.one_of(LR_DECAYS),
    'lr.end_factor': r.number(low=0, high=1),
    # 0 or None: no clipping.
    'grad_clip_norm': r.number(low=0, optional=True),
    'label_smoothing': r.number(low=0, high=1, high_open=True),
    'task': r.optional_text,
    'evals': _evals,
    'summary_metric': r.text,
    'benchmark.kind': r.one_of(BENCHMARK_KINDS),
    'benchmark.steps': r.integer(low=1),
    'sweep': _sweep,
    'sweep_memory_limit_gb': r.number(low=0, low_open=True),
    'sweep_timeout_s': r.number(low=0, low_open=True),
    'log_every_steps': r.integer(low=1),
    'eval_every_steps': r.integer(low=1),
    'checkpoint_every_steps': r.integer(low=1),
    # None keeps every checkpoint; 0 would make orbax delete all of them.
    'max_to_keep': r.integer(low=1, optional=True),
}


def validate(config) -> None:
  """Checks every field with a rule, then the model's section.

  Raises:
    ConfigError: `config.FIELD=VALUE: what is wrong` for the first bad field.
  """
  r.check(config, RULES)
  if (config.get('total_steps') is None
      and config.get('total_epochs') is None and 'total_steps' in config):
    raise ConfigError('set config.total_steps or config.total_epochs')
  if 'model' not in config:
    raise ConfigError('the config has no model section (config.model)')
  from vit_jax import models  # Late: keeps flag errors free of jax imports.
  models.check_config(config.model)
  _check_task_and_evals(config)


def _check_task_and_evals(config) -> None:
  """The task and evaluators named exist; their options follow their rules."""
  from vit_jax import evaluators
  from vit_jax import tasks
  try:
    task = tasks.get(tasks.task_name(config))
  except ValueError as e:
    raise ConfigError(f'config.task: {e}') from None
  evals = config.get('evals') or {}
  for name, entry in evals.items():
    try:
      evaluator = evaluators.get(entry.kind)
    except ValueError as e:
      raise ConfigError(f'config.evals.{name}.kind: {e}') from None
    r.check(entry, evaluator.OPTION_RULES, prefix=f'evals.{name}')
  if 'summary_metric' in config:
    prefix, _, metric = config.summary_metric.partition('/')
    if prefix not in evals or metric not in task.metric_names:
      known = [f'{e}/{m}' for e in evals for m in task.metric_names]
      raise ConfigError(
          f'config.summary_metric={config.summary_metric!r}: not a metric of '
          f'config.evals and the task; known: {", ".join(known) or "none"}')
