"""The registry of source kinds and the one way to open a config's split.

A kind registers itself with `@register` on its class (vit_jax/data/sources
imports every kind module). `config.dataset` selects the kind that serves
the name; a catch-all kind (tfds) gets the names no other kind serves, so
registration order does not matter.

`open_split(config, split)` is what the input pipeline calls: it opens the
split through its kind (or through config.dataset_fallback's kind when the
dataset is not prepared), checks it against config.num_classes, and keeps
small splits in memory (in_memory). Opened splits are cached by everything
they were opened from, so repeated eval_batches() calls reuse the open
source and its in-memory copy instead of re-reading the split.
"""

import functools
from typing import Hashable

from absl import logging

from vit_jax.data.sources import base
from vit_jax.data.sources import in_memory

_KINDS: list[base.SourceKind] = []
_warned_fallbacks: set[str] = set()


def register(cls: type[base.SourceKind]) -> type[base.SourceKind]:
  """Class decorator adding a source kind (an instance of `cls`)."""
  if cls.catch_all and any(k.catch_all for k in _KINDS):
    raise ValueError(f'{cls.__name__}: a catch-all source kind is already '
                     'registered')
  _KINDS.append(cls())
  return cls


def unregister(cls: type[base.SourceKind]) -> None:
  """Removes a kind (for tests that register their own)."""
  _KINDS[:] = [k for k in _KINDS if type(k) is not cls]
  _open_cached.cache_clear()  # Its splits may be cached under the kind.


def known_names() -> str:
  """What config.dataset may be besides the catch-all's names, for messages:
  'digits, pathfinder/128, ..., synthetic, folder:DIR'."""
  names = sorted(n for k in _KINDS if not k.catch_all for n in k.names)
  patterns = [p for k in _KINDS if not k.catch_all for p in k.patterns]
  return ', '.join(names + patterns)


def kind_for(dataset: str) -> base.SourceKind:
  """The kind that serves `dataset`.

  Raises:
    ValueError: none does (only if no catch-all kind is registered).
  """
  for kind in _KINDS:
    if not kind.catch_all and kind.serves(dataset):
      return kind
  for kind in _KINDS:
    if kind.catch_all:
      return kind
  raise ValueError(f'unknown dataset {dataset!r}; known: {known_names()}')


def open_split(config, split: str) -> base.Source:
  """The split ('train', 'test' or a split string) of config's dataset.

  Raises:
    ValueError: (one line) the dataset is missing or not prepared (and there
      is no config.dataset_fallback), the split does not exist or is empty,
      or config.num_classes does not fit the dataset.
  """
  split = {'train': config.train_split,
           'test': config.test_split}.get(split, split)
  role = {config.train_split: 'train',
          config.test_split: 'test'}.get(split)
  try:
    return _open(config, config.dataset, split, role)
  except (PermissionError, FileExistsError, FileNotFoundError,
          NotADirectoryError, IsADirectoryError) as e:
    # A data_dir or dataset path that cannot be read or created.
    raise ValueError(f'cannot read dataset {config.dataset!r} (data_dir '
                     f'{config.data_dir or "default"}): '
                     f'{e.strerror or e}: {e.filename}') from None
  except base.NotPreparedError as e:
    fallback = config.dataset_fallback
    if fallback is None:
      raise
    if config.dataset not in _warned_fallbacks:
      _warned_fallbacks.add(config.dataset)
      logging.warning('%s; using %s data instead.', e.summary, fallback)
    return _open(config, fallback, split, role)


def _open(config, dataset: str, split: str,
          role: str | None) -> base.Source:
  kind = kind_for(dataset)
  return _open_cached(kind, dataset, split, role, kind.settings(config),
                      num_classes=config.num_classes,
                      cache_max_bytes=config.input.cache_max_bytes,
                      num_threads=config.input.num_threads)


@functools.lru_cache(maxsize=8)
def _open_cached(kind: base.SourceKind, dataset: str, split: str,
                 role: str | None, settings: Hashable, *,
                 num_classes: int | None, cache_max_bytes: int,
                 num_threads: int) -> base.Source:
  source = kind.open(dataset, split, role=role, settings=settings)
  names = source.class_names
  if num_classes is not None and num_classes != len(names):
    raise ValueError(f'config.num_classes={num_classes} but {dataset!r} '
                     f'has {len(names)} classes')
  if not len(source):
    raise ValueError(f'split {split!r} of {dataset!r} is empty')
  return in_memory.InMemory(source, max_bytes=cache_max_bytes,
                            num_threads=num_threads)
