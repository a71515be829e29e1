"""Small splits gathered once into memory, whatever their source.

A split whose features fit in `config.input.cache_max_bytes` is read whole on
its first use (by every process: each needs other rows every step), so that
a step is a NumPy fancy-index instead of ~128 record decodes; larger splits
are read lazily, only this process's examples. Both give the same values.
"""

import threading
import time

from absl import logging
import grain
import numpy as np

from vit_jax.data.sources import base

# Examples per read while filling the in-memory copy.
_CHUNK = 256


class InMemory(base.Source):
  """`source`, served from memory once read if it is small enough."""

  def __init__(self, source: base.Source, *, max_bytes: int,
               num_threads: int):
    """Wraps `source`; reads nothing yet.

    Args:
      source: the opened split.
      max_bytes: the split is kept in memory if all its features fit.
      num_threads: grain threads that read it (decoding in parallel).
    """
    self._source = source
    self.name = source.name
    self.class_names = source.class_names
    self.features = source.features
    example_bytes = sum(f.nbytes for f in source.features.values())
    self._cacheable = len(source) * example_bytes <= max_bytes
    self._num_threads = num_threads
    self._cache = None  # feature name -> [N, ...] once filled.
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self._source)

  def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    if self._cacheable and self._cache is None:
      with self._lock:  # grain calls this from several threads.
        if self._cache is None:
          self._cache = self._read_all()
    if self._cache is not None:
      return {k: v[indices] for k, v in self._cache.items()}
    return self._source.gather(indices)

  def _read_all(self) -> dict[str, np.ndarray]:
    """Reads the whole split in chunks, decoded in parallel by grain."""
    start = time.perf_counter()
    n = len(self)
    chunks = grain.MapDataset.range(0, n, _CHUNK).map(
        lambda i: self._source.gather(np.arange(i, min(i + _CHUNK, n))))
    options = grain.ReadOptions(num_threads=self._num_threads,
                                prefetch_buffer_size=2 * self._num_threads)
    chunks = list(chunks.to_iter_dataset(options))
    cache = {k: np.concatenate([c[k] for c in chunks]) for k in self.features}
    logging.info('Loaded %s (%d examples, %.1f MB) into memory in %.1f s.',
                 self.name, n, sum(v.nbytes for v in cache.values()) / 1e6,
                 time.perf_counter() - start)
    return cache
