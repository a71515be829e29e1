"""What the command-line entry points share: one-line errors and flag parsing
that turns every bad flag or config override into such a line."""

import contextlib
import difflib
import importlib.util
import logging as std_logging
import re
import sys
from typing import NoReturn

from absl import flags
from absl import logging as absl_logging

from vit_jax import errors


def fail(message, code: int = 2) -> NoReturn:
  """Ends the program with one line on stderr, as every bad input should."""
  print(f'error: {" ".join(str(message).split())}', file=sys.stderr)
  sys.exit(code)


@contextlib.contextmanager
def user_errors_exit():
  """Ends the program on a user-facing error (vit_jax.errors) as it should:
  a signal stop prints its line and exits with its code; the others end in
  one `error:` line with theirs. Any other exception is a bug and keeps its
  traceback."""
  try:
    yield
  except errors.Stopped as e:
    print(e, flush=True)  # A clean stop: the scheduler may restart us.
    sys.exit(e.exit_code)
  except Exception as e:  # pylint: disable=broad-except
    code = errors.exit_code(e)
    if code is None:
      raise
    fail(e, code=code)


def quiet_library_logs() -> None:
  """Hides orbax's log records (each save at INFO, read-only notes at
  WARNING, failed async writes as tracebacks at ERROR) and asyncio's reports
  of the same failed writes: the trainer reports what matters as its own
  lines. --verbose callers skip this."""
  from vit_jax.training import quiet_disk_errors  # pylint: disable=g-import-not-at-top

  def keep(record) -> bool:
    if '/orbax/' in record.pathname:
      return record.levelno >= std_logging.CRITICAL
    if '/asyncio/' in record.pathname:
      # Leftovers of orbax's reads and writes that failed (an unreadable
      # checkpoint, a full disk): the trainer has said what happened.
      message = record.getMessage()
      return not (quiet_disk_errors.is_disk_message(message)
                  or 'exception was never retrieved' in message)
    return True

  absl_logging.get_absl_handler().addFilter(keep)
  absl_logging.set_verbosity(absl_logging.WARNING)
  previous_hook = sys.unraisablehook

  def unraisable_hook(args):
    # tensorstore's callbacks of an aborted read, delivered after the
    # asyncio loop that awaited them closed.
    if not (isinstance(args.exc_value, RuntimeError)
            and str(args.exc_value) == 'Event loop is closed'):
      previous_hook(args)

  sys.unraisablehook = unraisable_hook


def _load_config_file(spec: str):
  """get_config(arg) of --config=FILE.py[:ARG], or None if that fails."""
  path, _, arg = spec.partition(':')
  try:
    module_spec = importlib.util.spec_from_file_location('_config', path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()
  except Exception:  # pylint: disable=broad-except
    return None


def _override_paths(argv) -> list[str]:
  """Dotted fields of the --config.a.b=v overrides in argv."""
  paths = []
  for arg in argv[1:]:
    match = re.match(r'--config\.([\w.]+)', arg)
    if match:
      paths.append(match.group(1))
  return paths


def unknown_field_message(argv, config) -> str | None:
  """'no config field a.b (a has: ...)' for the first override naming a
  field that `config` (loaded without overrides) lacks."""
  if config is None:
    return None
  for path in _override_paths(argv):
    node, parts = config, path.split('.')
    for depth, key in enumerate(parts):
      try:
        present = key in node
      except TypeError:  # A leaf reached before the path ended.
        present = False
      if not present:
        where = '.'.join(parts[:depth]) or 'the config'
        known = sorted(node.keys()) if hasattr(node, 'keys') else []
        close = difflib.get_close_matches(key, known, n=1)
        hint = (f'did you mean {".".join(parts[:depth] + close)}?' if close
                else f'{where} has: {", ".join(known)}' if known
                else f'{where} is not a section')
        return f'no config field {path} ({hint})'
      node = node[key]
  return None


def parse_flags(argv, config_flag=None):
  """absl's parsing, with bad flags and config overrides as one-line errors.

  Args:
    argv: sys.argv.
    config_flag: the holder of a `config_flags.DEFINE_config_file` flag, if
      the program has one.

  Returns:
    argv without the flags (the program name only: positional arguments are
    refused).
  """
  # The last --config= wins, as in absl.
  spec = next((a.split('=', 1)[1] for a in reversed(argv[1:])
               if a.startswith('--config=')), None)
  try:
    rest = flags.FLAGS(argv)
    if config_flag is not None:
      config_flag.value.get('mode')  # Loads the file now if loaded lazily.
  except KeyboardInterrupt:
    fail('interrupted before anything ran', code=130)
  except SyntaxError as e:  # The config file is not Python.
    fail(f'cannot load --config={spec}: {e.msg} ({e.filename}, line '
         f'{e.lineno})')
  except OSError as e:  # Config file missing or unreadable.
    fail(f'cannot load --config: {str(e).splitlines()[-1].strip()}')
  except flags.Error as e:
    # A config file that raised carries its traceback: its last line says why.
    lines = [line for line in str(e).splitlines() if line.strip()]
    if len(lines) > 1:
      fail(f'{lines[0].split(": Error whilst")[0]}: {lines[-1].strip()}')
    fail(lines[0].split(' If you intended')[0] if lines else e)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    if (isinstance(e, AttributeError) and 'get_config' in str(e)
        and spec is not None):
      fail(f'--config={spec}: the file has no get_config() function')
    # ml_collections raises these for overrides of fields that do not exist.
    message = unknown_field_message(argv, spec and _load_config_file(spec))
    if message is None:
      text = e.args[0] if e.args else str(e)
      message = 'bad --config override: ' + str(text).strip('\'"').split(
          '\n')[0].strip('\'"')
    fail(message)
  except Exception as e:  # pylint: disable=broad-except
    # Whatever else the config file's own code raised.
    fail(f'cannot load --config={spec}: {type(e).__name__}: '
         f'{str(e).splitlines()[0] if str(e) else ""}')
  if len(rest) > 1:
    fail(f'unexpected argument(s) {" ".join(rest[1:])!r}: every option is a '
         'flag, e.g. --workdir=DIR or --config.total_steps=100')
  return rest
