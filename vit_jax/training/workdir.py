"""A run's working directory and the config saved in it.

The resolved config is written to WORKDIR/config.json on the first run. A
later run in the same workdir must bring the same config, except for fields
that only say how long or how often (so a finished run can be extended);
anything else is refused before the workdir is touched.
"""

import json
import os
from typing import Any

from vit_jax.training.config_checks import ConfigError

CONFIG_FILE = 'config.json'
# Changing these between runs in one workdir keeps a checkpoint meaningful.
RESUMABLE_CHANGES = frozenset({
    'total_steps', 'total_epochs', 'log_every_steps', 'eval_every_steps',
    'checkpoint_every_steps', 'max_to_keep', 'mode', 'data_dir'})


def _flatten(tree: Any, prefix: str = '') -> dict[str, Any]:
  if not isinstance(tree, dict):
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_flatten(value, f'{prefix}{key}.' if isinstance(value, dict)
                         else f'{prefix}{key}'))
  return flat


def _as_json_dict(config) -> dict[str, Any]:
  return json.loads(config.to_json_best_effort())


def config_differences(saved: dict[str, Any], new: dict[str, Any]) -> list[str]:
  """Dotted keys present in both config dicts whose values differ.

  Keys in only one of them come from a change of the code's defaults (a field
  added or removed since the run started), not from the user's config.
  """
  a, b = _flatten(saved), _flatten(new)
  return sorted(k for k in a.keys() & b.keys() if a[k] != b[k])


def prepare(workdir: str, config, *, is_writer: bool) -> None:
  """Creates `workdir` and saves the config, or checks it against the saved one.

  Raises:
    ConfigError: the workdir holds a run of another config, or is not a
      writable directory.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  new = _as_json_dict(config)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    blocking = [k for k in config_differences(saved, new)
                if k.split('.')[0] not in RESUMABLE_CHANGES]
    if blocking:
      shown = ', '.join(f'{k} ({_flatten(saved).get(k)!r} -> '
                        f'{_flatten(new).get(k)!r})' for k in blocking[:4])
      more = f' and {len(blocking) - 4} more' if len(blocking) > 4 else ''
      raise ConfigError(
          f'workdir {workdir} holds a run of a different config: {shown}{more}; '
          'use a new --workdir (nothing was changed)')
  elif os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f'workdir {workdir} exists and is not a directory')
  if not is_writer:
    return
  try:
    os.makedirs(workdir, exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(new, f, indent=2, sort_keys=True)
    os.replace(tmp, path)  # Atomic: a kill leaves the old or the new file.
  except OSError as e:
    raise ConfigError(f'cannot write to workdir {workdir}: {e}') from None
