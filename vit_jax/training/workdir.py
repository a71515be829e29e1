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

from vit_jax.errors import ConfigError, WriteError

CONFIG_FILE = 'config.json'
# Changing these between runs in one workdir keeps a checkpoint meaningful.
# A dotted name allows that field and everything below it. Evaluations and
# the input's threading never change the trained state.
RESUMABLE_CHANGES = frozenset({
    'total_steps', 'total_epochs', 'log_every_steps', 'eval_every_steps',
    'checkpoint_every_steps', 'max_to_keep', 'data_dir', 'evals',
    'summary_metric', 'input.num_threads', 'input.prefetch',
    'input.cache_max_bytes', 'mesh', 'sharding_rules', 'cpu_device_per_core',
    # Same values either way (vit_jax/models/kernel_forms.py).
    'model.kernels',
    # Read by a fresh run only: a run with a checkpoint never reads them.
    'init_from', 'init_skip'})
# Read-only actions on a run (mode=predict, mode=eval) may differ in these.
READ_ONLY_CHANGES = RESUMABLE_CHANGES | {
    'mode', 'predict_batch_size', 'eval_split', 'predict_inputs',
    'predict_top_k'}
# Fields every run record has; a config.json without them is not one.
RECORD_FIELDS = ('model', 'dataset', 'seed', 'batch_size', 'lr', 'optimizer')
# Files a run writes; one of them in a workdir without config.json means the
# folder holds something else (or a record that was deleted).
RUN_FILES = ('checkpoints', 'metrics.jsonl', 'tensorboard', 'class_names.json')


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


def read_json(path: str, *, what: str) -> Any:
  """The JSON value in `path` (None also if there is no such file).

  Raises:
    ConfigError: it cannot be read or is not JSON; nothing is touched.
  """
  if not os.path.lexists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, UnicodeDecodeError) as e:
    raise ConfigError(f'cannot read {what} {path}: {e}') from None
  except json.JSONDecodeError as e:
    raise ConfigError(
        f'{what} {path} is not valid JSON ({e.msg} at line {e.lineno}); '
        'restore it or use a new --workdir (nothing was changed)') from None


def read_record(workdir: str) -> dict[str, Any] | None:
  """The run record WORKDIR/config.json as a dict; None if there is none.

  Raises:
    ConfigError: the file exists but is not a run record of this project
      (unreadable, not JSON, not an object, missing the fields every record
      has); nothing is touched.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.lexists(path):
    return None
  record = read_json(path, what='the run record')
  missing = ([f for f in RECORD_FIELDS if f not in record]
             if isinstance(record, dict) else list(RECORD_FIELDS))
  if missing:
    raise ConfigError(
        f'{path} is not a run record of this project (no '
        f'{", ".join(missing[:3])}{"..." if len(missing) > 3 else ""}); '
        'restore it or use a new --workdir (nothing was changed)')
  return record


def load_config(workdir: str):
  """The ConfigDict saved in WORKDIR/config.json.

  Raises:
    ConfigError: there is none, or it is not a run record.
  """
  record = read_record(workdir)
  if record is None:
    raise ConfigError(f'{workdir} holds no run ({CONFIG_FILE} not found)')
  return config_from_record(record)


def record_with_defaults(record: dict[str, Any]) -> dict[str, Any]:
  """A saved record (JSON dict) with the fields it lacks at their defaults:
  what the run that wrote it used, so a new value for such a field (e.g.
  grad_accum_steps=4 on a run recorded before the field existed) counts as a
  difference."""
  from configs import common  # Late: configs imports the data pipeline.
  defaults = json.loads(common.trainer_defaults().to_json_best_effort())
  return _with_missing(record, defaults)


def config_from_record(record: dict[str, Any]) -> ml_collections.ConfigDict:
  """A saved config as a ConfigDict, with the fields it lacks filled in.

  A record saved before a field was declared lacks it; the code reads every
  field directly, so the field's default from `configs/common.py`
  `trainer_defaults()`, the one place defaults are declared, is filled in.
  """
  from configs import common  # Late: configs imports the data pipeline.
  defaults = common.trainer_defaults().to_dict()
  return ml_collections.ConfigDict(_with_missing(record, defaults))


def _with_missing(record: dict[str, Any],
                  defaults: dict[str, Any]) -> dict[str, Any]:
  """`record` plus the fields of `defaults` it lacks, section by section.

  A section whose every default is itself a mapping (config.evals: name ->
  entry) is one value: a record's own entries are kept as they are.
  """
  merged = dict(record)
  for key, default in defaults.items():
    if key not in merged:
      merged[key] = default
    elif (isinstance(default, dict) and isinstance(merged[key], dict)
          and not all(isinstance(v, dict) for v in default.values())):
      merged[key] = _with_missing(merged[key], default)
  return merged


def _allowed(dotted: str, allowed) -> bool:
  """Whether `dotted` or a section above it is in `allowed`."""
  parts = dotted.split('.')
  return any('.'.join(parts[:i]) in allowed for i in range(1, len(parts) + 1))


def check(workdir: str, config, *, allowed=RESUMABLE_CHANGES) -> bool:
  """Checks that `config` may run in `workdir`; reads only.

  Args:
    workdir: the run's directory (need not exist).
    config: the new config.
    allowed: fields (dotted: 'input.prefetch') or sections that may differ
      from the saved record.

  Returns:
    Whether the workdir already holds a run record.

  Raises:
    ConfigError: the workdir holds a run of another config, a record that is
      not one, run files without a record, or is not a directory.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f'workdir {workdir} exists and is not a directory')
  saved = read_record(workdir)
  if saved is None:
    present = [n for n in RUN_FILES
               if os.path.lexists(os.path.join(workdir, n))]
    if present:
      raise ConfigError(
          f'workdir {workdir} holds {", ".join(present)} but no '
          f'{CONFIG_FILE}: it is not a run of this project, or its record '
          'was deleted; use a new --workdir (nothing was changed)')
    return False
  saved, new = record_with_defaults(saved), _as_json_dict(config)
  blocking = [k for k in config_differences(saved, new)
              if not _allowed(k, allowed)]
  if blocking:
    flat_saved, flat_new = _flatten(saved), _flatten(new)
    shown = ', '.join(f'{k} ({flat_saved.get(k)!r} -> {flat_new.get(k)!r})'
                      for k in blocking[:4])
    more = f' and {len(blocking) - 4} more' if len(blocking) > 4 else ''
    raise ConfigError(
        f'workdir {workdir} holds a run of a different config: {shown}{more}; '
        'use a new --workdir (nothing was changed)')
  old_keep, new_keep = saved.get('max_to_keep'), config.get('max_to_keep')
  if 'max_to_keep' in allowed and new_keep is not None and (
      old_keep is None or new_keep < old_keep):
    raise ConfigError(
        f'max_to_keep={new_keep} is below the run\'s {old_keep}: the next save '
        f'would delete checkpoints the run in {workdir} already has; keep '
        f'max_to_keep={old_keep} or more in this workdir')
  return True


def save_record(workdir: str, config) -> None:
  """Writes WORKDIR/config.json (the resolved config), atomically.

  Call only after `check` passed under the workdir's lock.
  """
  write_json(workdir, CONFIG_FILE, _as_json_dict(config), indent=2,
             sort_keys=True)


def write_atomic(path: str, text: str) -> None:
  """Writes `path` (creating its folder) so that a crash leaves it whole.

  The one writer of files meant to survive kills and crashes (run records,
  point configs and results, sweep tables, rewritten metrics): the text goes
  to PATH.tmp in the same folder, is fsynced, then replaces PATH (os.replace),
  so a kill -9 or power loss leaves the old file or the new one, never a
  part.

  Raises:
    WriteError: the file cannot be written (one line naming it).
  """
  tmp = path + '.tmp'
  try:
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(tmp, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    with contextlib.suppress(OSError):  # What a full disk left of it.
      os.remove(tmp)
    raise WriteError(f'cannot write {path}: {e}') from None


def write_text(workdir: str, name: str, text: str) -> None:
  """Writes WORKDIR/name atomically (`write_atomic`).

  Raises:
    WriteError: the workdir or the file cannot be written.
  """
  write_atomic(os.path.join(workdir, name), text)


def write_json(workdir: str, name: str, value: Any, **dump_args) -> None:
  """Writes `value` as JSON to WORKDIR/name atomically (`write_atomic`).

  Raises:
    WriteError: the workdir or the file cannot be written.
  """
  write_text(workdir, name, json.dumps(value, **dump_args))


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
  try:
    os.makedirs(workdir, exist_ok=True)
    f = open(os.path.join(workdir, LOCK_FILE), 'a+')
  except OSError as e:
    raise ConfigError(f'cannot write to workdir {workdir}: {e}') from None
  with f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'unknown'
      raise ConfigError(f'workdir {workdir} is in use by another run (pid '
                        f'{holder}); wait for it or stop it first') from None
    try:
      f.seek(0)
      f.truncate()
      f.write(str(os.getpid()))
      f.flush()
    except OSError as e:
      fcntl.flock(f, fcntl.LOCK_UN)
      raise WriteError(f'cannot write to workdir {workdir}: {e}') from None
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


CLASS_NAMES_FILE = 'class_names.json'


def check_class_names(workdir: str, names: list[str]) -> None:
  """Refuses a resumed run whose dataset now has other classes; reads only.

  A folder that gained or renamed a class would silently relabel the data.

  Raises:
    ConfigError: the saved names differ, or cannot be read.
  """
  path = os.path.join(workdir, CLASS_NAMES_FILE)
  if not os.path.exists(path):
    return
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f'cannot read {path}: {e}; restore it or use a new '
                      '--workdir') from None
  if saved != list(names):
    raise ConfigError(
        f'the dataset\'s classes changed since this run started ({path}: '
        f'{str(saved)[:60]} now {str(list(names))[:60]}); use a new --workdir')


def save_class_names(workdir: str, names: list[str]) -> None:
  """Writes WORKDIR/class_names.json (label i is names[i]) if absent."""
  check_class_names(workdir, names)
  if not os.path.exists(os.path.join(workdir, CLASS_NAMES_FILE)):
    write_json(workdir, CLASS_NAMES_FILE, list(names), indent=1)
