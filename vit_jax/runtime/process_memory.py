"""A process's memory as the kernel reports it: RSS, peak RSS, the peak reset.

Linux only (/proc/PID/status, /proc/self/clear_refs, getrusage in KiB);
elsewhere the /proc readers return None (or False). psutil (installed with
orbax and tfds, not a declared dependency) reads RSS but neither the kernel's
peak mark nor its reset, so this module reads /proc for all of them.
"""

import resource
from typing import Optional


def _status_bytes(key: str, pid: int | str = 'self') -> Optional[int]:
  """A memory field ('VmRSS', 'VmHWM', ...) of /proc/PID/status, in bytes."""
  try:
    with open(f'/proc/{pid}/status') as f:
      for line in f:
        if line.startswith(key + ':'):
          return int(line.split()[1]) * 1024  # Reported in kB.
  except OSError:  # No /proc, or the process has ended.
    pass
  return None


def rss_bytes(pid: int | str = 'self') -> Optional[int]:
  """The resident set size of process `pid` (default this one) now."""
  return _status_bytes('VmRSS', pid)


def peak_rss_bytes(pid: int | str = 'self') -> Optional[int]:
  """The kernel's peak-RSS mark (VmHWM) of `pid`: since it started, or since
  the last `reset_peak_rss`."""
  return _status_bytes('VmHWM', pid)


def reset_peak_rss() -> bool:
  """Resets this process's peak-RSS mark to its current RSS; False if unable.

  getrusage's ru_maxrss reads the same mark: read `max_rss_bytes` before if
  the earlier peak matters.
  """
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')  # 5: reset the peak RSS mark to the current RSS.
    return True
  except OSError:
    return False


def max_rss_bytes() -> int:
  """This process's peak RSS from getrusage (ru_maxrss, KiB on Linux)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
