"""A run's working directory and the config saved in it.

The resolved config is written to WORKDIR/config.json on the first run. A
later run in the same workdir must bring the same config, except for fields
that only say how long or how often (so a finished run can be extended);
anything else is refused before the workdir is touched.
"""

import contextlib
import fcntl
import json
import os
from typing import Any, Iterator

import ml_collections

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


def load_config(workdir: str):
  """The ConfigDict saved in WORKDIR/config.json.

  Raises:
    ConfigError: there is none.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise ConfigError(f'{workdir} holds no run ({CONFIG_FILE} not found)')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


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
  _write_json(workdir, CONFIG_FILE, new, indent=2, sort_keys=True)


def _write_json(workdir: str, name: str, value: Any, **dump_args) -> None:
  """Writes WORKDIR/name atomically: a kill leaves the old or the new file.

  Raises:
    ConfigError: the workdir cannot be created or written.
  """
  path = os.path.join(workdir, name)
  try:
    os.makedirs(workdir, exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(value, f, **dump_args)
    os.replace(tmp, path)
  except OSError as e:
    raise ConfigError(f'cannot write to workdir {workdir}: {e}') from None


LOCK_FILE = '.lock'


@contextlib.contextmanager
def exclusive(workdir: str, *, is_writer: bool) -> Iterator[None]:
  """Holds WORKDIR/.lock for a training run, so that a second run started in
  the same workdir (a duplicate job, a restart while the old process still
  saves) is refused instead of interleaving checkpoints and logs.

  The lock is the kernel's (flock): it ends with the process, even on kill -9,
  so a stale lock file never blocks a restart.

  Raises:
    ConfigError: another process holds the lock.
  """
  if not is_writer:
    yield
    return
  with open(os.path.join(workdir, LOCK_FILE), 'a+') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'unknown'
      raise ConfigError(f'workdir {workdir} is in use by another run (pid '
                        f'{holder}); wait for it or stop it first') from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


CLASS_NAMES_FILE = 'class_names.json'


def save_class_names(workdir: str, names: list[str]) -> None:
  """Writes WORKDIR/class_names.json (label i is names[i]), or checks it.

  A resumed run whose dataset now has other classes (a folder that gained or
  renamed one) would silently train on relabelled data: that is refused.

  Raises:
    ConfigError: the saved names differ, or the file cannot be written.
  """
  path = os.path.join(workdir, CLASS_NAMES_FILE)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if saved != list(names):
      raise ConfigError(
          f'the dataset\'s classes changed since this run started ({path}: '
          f'{saved[:5]}... now {list(names)[:5]}...); use a new --workdir')
    return
  _write_json(workdir, CLASS_NAMES_FILE, list(names), indent=1)
