"""Deterministic, resumable train/eval batch iterators for the trainer.

Sources: local datasets generated and prepared into data_dir on first use
(_LOCAL_BUILDERS: 'digits', vit_jax/data/digits; 'pathfinder/32',
'pathfinder/64', 'pathfinder/128', vit_jax/data/pathfinder), 'synthetic'
(vit_jax/data/synthetic), 'folder:DIR' (image files in class folders,
vit_jax/data/folder), or any tfds dataset prepared in array_record format
(read without TensorFlow through tfds data sources; vit_jax/data/presets
lists the usual ones).

Every split goes through the same path: a random-access source, the
deterministic ops (decode, resize to R x R, R = input.resize_size, default
image_size) applied when examples are gathered, then the per-batch ops
selected by name (vit_jax/data/op_lists: train default random shift; eval
default center crop, an identity when R = image_size), the value range, and
for training optionally mixup. A split whose resized images fit in
`config.input.cache_max_bytes` (default 256 MiB; digits at 16x16 is 0.4 MB)
is gathered once into memory on first use (whole split, by every process), so
a step is a NumPy fancy-index instead of ~128 record decodes; larger splits
are read lazily, only this process's examples. grain runs the per-step
function in `config.input.num_threads` threads (default 2) and prefetches
`config.input.prefetch` batches (default 4), in order.

Determinism: row r of the global batch at step s is position
p = s * batch_size + r of an endless stream, which is example
`perm(seed, p // N)[p % N]` of the split (a fresh permutation per epoch), and
its augmentation is seeded by (seed, s, r). A batch is therefore a pure
function of (config, step), so `train_batches(config, start_step=s)` resumes
bit-exactly, and process i of n gets rows [i * b, (i + 1) * b) of the same
global batch.

Corrupt images: an image that cannot be read or decoded raises a ValueError
naming it (its path, or dataset[split] and index). With
`config.input.skip_corrupt=True` example i is instead replaced by the next
example i+1, i+2, ... (wrapping) that decodes, and logged once with the
running count. The replacement depends only on the data, so batches stay a
pure function of (config, step); files are not checked up front, as that
would mean decoding a whole folder before the first step. In eval the
replacement is counted in place of the corrupt example.

Config fields read: seed, dataset, data_dir (else $TFDS_DATA_DIR, else
~/tensorflow_datasets), dataset_fallback (None or 'synthetic'), train_split,
test_split, num_classes, image_size, batch_size, eval_batch_size,
input.random_shift, synthetic.{num_train, num_test, channels}; optional:
input.{resize_size, train_ops, eval_ops, randaugment, mixup_alpha,
value_range, skip_corrupt, folder_test_fraction, num_threads, prefetch,
cache_max_bytes}, synthetic.seed.
"""

import dataclasses
import functools
import os
import threading
import time
from typing import Any, Iterator

from absl import logging
import grain
import numpy as np
import tensorflow_datasets as tfds

from vit_jax.errors import CorruptImageError  # noqa: F401  (re-exported)
from vit_jax.data import digits
from vit_jax.data import folder
from vit_jax.data import mixup
from vit_jax.data import op_lists
from vit_jax.data import pathfinder
from vit_jax.data import preprocess
from vit_jax.data import presets
from vit_jax.data import synthetic

# Steps are indexed by an (effectively) infinite grain range.
_MAX_STEPS = 2**62
_DEFAULT_CACHE_MAX_BYTES = 256 * 2**20
# Examples per read while filling the in-memory copy.
_CACHE_CHUNK = 256
_warned_fallbacks: set[str] = set()
# Datasets generated locally: name -> function(data_dir) returning the
# prepared tfds builder (preparing it on first use, under a lock).
_LOCAL_BUILDERS = {
    'digits': digits.load_builder,
    **{f'pathfinder/{size}': functools.partial(pathfinder.load_builder, size)
       for size in pathfinder.SIZES},
}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the model and trainer need to know about the data."""
  num_classes: int
  num_train: int
  num_test: int
  image_shape: tuple  # (H, W, C) after preprocessing.


def dataset_info(config) -> DatasetInfo:
  """Sizes, classes and image shape of config's dataset (prepares local
  datasets).

  Raises:
    ValueError: (one line) the dataset is missing or not prepared, or the
      config's num_classes, splits or input ops do not fit it.
  """
  train = _examples(config, 'train')
  test = _examples(config, 'test')
  _train_ops(config, train)
  _eval_ops(config, test)
  return DatasetInfo(num_classes=train.num_classes, num_train=len(train),
                     num_test=len(test), image_shape=_output_shape(config,
                                                                   train))


def class_names(config) -> list[str]:
  """The names of config's classes; label i is name i.

  Folder datasets: the class folders' names, sorted. tfds datasets: the label
  feature's names ('0', '1', ... if it has none). Synthetic: '0', '1', ...

  Raises:
    ValueError: as `dataset_info`.
  """
  return list(_examples(config, 'train').class_names)


def train_batches(config, *, start_step: int = 0, process_index: int = 0,
                  process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Infinite iterator over this process's part of each global train batch.

  Args:
    config: the experiment config (fields: see the module docstring).
    start_step: global step of the first batch yielded.
    process_index: this process; it gets rows [i * b, (i + 1) * b).
    process_count: number of processes sharing each global batch.

  Returns:
    Iterator of {'image': float32 [b, H, W, C] in input.value_range (default
    [-1, 1]), 'label': int32 [b]} with b = config.batch_size //
    process_count; with input.mixup_alpha > 0 also 'label_mix' int32 [b] and
    'mix_weight' float32 [b], the weight of 'label' (vit_jax/data/mixup).
  """
  if start_step < 0:
    raise ValueError(f'start_step must be >= 0, got {start_step}')
  examples = _examples(config, 'train')
  global_batch = config.batch_size
  rows = _process_rows(global_batch, process_index, process_count)  # [b]
  seed = config.seed
  ops = _train_ops(config, examples)
  mixup_alpha = _get(config, 'input.mixup_alpha', 0.0)
  permutation = _epoch_permutations(seed, len(examples))

  def batch_at(step: int) -> dict[str, np.ndarray]:
    positions = step * global_batch + rows  # [b] in the endless stream.
    epochs, within = np.divmod(positions, len(examples))
    indices = np.empty_like(positions)
    for epoch in np.unique(epochs):  # At most two unless batch > epoch.
      in_epoch = epochs == epoch
      indices[in_epoch] = permutation(int(epoch))[within[in_epoch]]
    images, labels = examples.gather(indices)
    seeds = preprocess.example_seeds(seed, step, rows)
    batch = {'image': preprocess.apply(ops, images, seeds), 'label': labels}
    if mixup_alpha:
      batch.update(mixup.mixup(batch['image'], labels, seeds,
                               alpha=mixup_alpha))
    return batch

  steps = grain.MapDataset.range(start_step, _MAX_STEPS)
  return _prefetch(steps.map(batch_at), config)


def eval_batches(config, *, split: str = 'test', process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """The whole split exactly once, in order, in padded global batches.

  Args:
    config: the experiment config.
    split: 'test' or 'train' (mapped through config.test_split /
      config.train_split) or any other tfds split string.
    process_index: this process; it gets rows [i * b, (i + 1) * b).
    process_count: number of processes sharing each global batch.

  Returns:
    Iterator of {'image': float32 [b, H, W, C], 'label': int32 [b],
    'mask': float32 [b]} with b = config.eval_batch_size // process_count;
    padding rows (only in the last global batch) are all zeros with mask 0.
  """
  examples = _examples(config, split)
  global_batch = config.eval_batch_size
  rows = _process_rows(global_batch, process_index, process_count)  # [b]
  num_batches = -(-len(examples) // global_batch)
  ops = _eval_ops(config, examples)
  height, width, channels = _output_shape(config, examples)

  def batch_at(index: int) -> dict[str, np.ndarray]:
    positions = index * global_batch + rows  # [b]
    real = positions < len(examples)  # [b]; a prefix, as rows are ascending.
    images, labels = examples.gather(positions[real])
    batch = {
        'image': np.zeros((len(rows), height, width, channels), np.float32),
        'label': np.zeros(len(rows), np.int32),
        'mask': real.astype(np.float32),
    }
    batch['image'][real] = preprocess.apply(ops, images, None)
    batch['label'][real] = labels
    return batch

  return _prefetch(grain.MapDataset.range(num_batches).map(batch_at), config)


def _prefetch(batches: grain.MapDataset, config) -> Iterator[dict[str, Any]]:
  """Computes batches in background threads, yielded in order."""
  options = grain.ReadOptions(
      num_threads=_get(config, 'input.num_threads', 2),
      # Small: a batch of 128x224x224x3 float32 is 77 MB (grain's default: 500).
      prefetch_buffer_size=_get(config, 'input.prefetch', 4))
  return iter(batches.to_iter_dataset(options))


def _process_rows(global_batch: int, process_index: int,
                  process_count: int) -> np.ndarray:
  """int64 [b]: the rows of the global batch that this process owns."""
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} not in '
                     f'[0, {process_count})')
  if global_batch % process_count:
    raise ValueError(f'batch size {global_batch} is not divisible by '
                     f'process_count {process_count}')
  local = global_batch // process_count
  return process_index * local + np.arange(local, dtype=np.int64)


def _epoch_permutations(seed: int, num_examples: int):
  """Returns epoch -> permutation of [0, num_examples), seeded by (seed, epoch).

  Cached because every step of an epoch needs the same one.
  """

  @functools.lru_cache(maxsize=4)
  def permutation(epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_examples)

  return permutation


def _output_shape(config, examples: '_Examples') -> tuple[int, int, int]:
  return (config.image_size, config.image_size, examples.image_shape[-1])


def _train_ops(config, examples: '_Examples') -> list[preprocess.Op]:
  """The checked train op list of config (see vit_jax/data/op_lists)."""
  if _get(config, 'input.mixup_alpha', 0.0) < 0:
    raise ValueError(f'config.input.mixup_alpha must be >= 0 (0: off), got '
                     f'{config.input.mixup_alpha}')
  ops = op_lists.train_ops(
      _get(config, 'input.train_ops', ('random_shift',)),
      image_size=config.image_size,
      random_shift=_get(config, 'input.random_shift', 0),
      randaugment=_get(config, 'input.randaugment', None),
      value_range=_get(config, 'input.value_range', (-1.0, 1.0)))
  op_lists.check_output_size(ops, 'train_ops',
                             stored_shape=examples.image_shape,
                             image_size=config.image_size)
  return ops


def _eval_ops(config, examples: '_Examples') -> list[preprocess.Op]:
  """The checked eval op list of config."""
  ops = op_lists.eval_ops(
      _get(config, 'input.eval_ops', ('center_crop',)),
      image_size=config.image_size,
      value_range=_get(config, 'input.value_range', (-1.0, 1.0)))
  op_lists.check_output_size(ops, 'eval_ops',
                             stored_shape=examples.image_shape,
                             image_size=config.image_size)
  return ops


def _get(config, path: str, default: Any) -> Any:
  """config.a.b, or default when a level is missing or the value is None."""
  node = config
  for key in path.split('.'):
    node = node.get(key) if node is not None else None
  return default if node is None else node


class _Examples:
  """One split at the stored resolution, random access by example index."""

  def __init__(self, source, *, name: str, image_key: str, label_key: str,
               image_shape: tuple[int, int, int], class_names: list[str],
               min_size: int | None, skip_corrupt: bool, cache_max_bytes: int,
               num_threads: int):
    self._source = source
    self._name = name
    self._image_key = image_key
    self._label_key = label_key
    self.image_shape = image_shape  # (R, R, C) as stored.
    self.class_names = class_names
    self.num_classes = len(class_names)
    self._decode = functools.partial(preprocess.decode_image,
                                     channels=image_shape[-1],
                                     min_size=min_size)
    self._skip_corrupt = skip_corrupt
    self._corrupt: set[int] = set()  # Indices found corrupt so far.
    # Not self._lock: that one is held while grain threads fill the cache.
    self._corrupt_lock = threading.Lock()
    self._cacheable = len(source) * np.prod(image_shape) <= cache_max_bytes
    self._num_threads = num_threads
    self._cache = None  # (uint8 [N, R, R, C], int32 [N]) once filled.
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self._source)

  def gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, R, R, C] images and int32 [n] labels of examples `indices`."""
    if self._cacheable and self._cache is None:
      with self._lock:  # grain calls this from several threads.
        if self._cache is None:
          self._cache = self._read_all()
    if self._cache is not None:
      images, labels = self._cache
      return images[indices], labels[indices]
    return self._read(indices)

  def _read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(indices):
      return (np.zeros((0, *self.image_shape), np.uint8),
              np.zeros(0, np.int32))
    records = self._source.__getitems__(indices.tolist())
    decoded = [self._decoded(int(i), r) for i, r in zip(indices, records)]
    images = preprocess.resize([image for image, _ in decoded], None,
                               size=self.image_shape[0])
    labels = np.array([label for _, label in decoded], np.int32)
    return images, labels

  def _decoded(self, index: int, record) -> tuple[np.ndarray, int]:
    """Example `index` (its record given) decoded: (uint8 [H, W, C], label).

    A corrupt image raises, or with skip_corrupt is replaced by the next
    example that decodes (see the module docstring).
    """
    for offset in range(len(self)):
      candidate = (index + offset) % len(self)
      if offset:
        record = self._source[candidate]
      try:
        return self._decode(record[self._image_key]), record[self._label_key]
      except Exception as e:  # pylint: disable=broad-except
        # PIL raises OSError, ValueError, SyntaxError, ... for bad files.
        what = self._describe(candidate)
        if not self._skip_corrupt:
          raise CorruptImageError(
              f'cannot decode image {what}: {type(e).__name__}: {e} (set '
              'config.input.skip_corrupt=True to skip such images)') from e
        with self._corrupt_lock:
          new = candidate not in self._corrupt
          self._corrupt.add(candidate)
          count = len(self._corrupt)
        if new:
          logging.warning(
              'Skipping corrupt image %s (%s: %s); %d corrupt image(s) '
              'skipped in %s so far.', what, type(e).__name__, e, count,
              self._name)
    raise CorruptImageError(f'no image of {self._name} can be decoded '
                            '(every one is corrupt); nothing to train on')

  def _describe(self, index: int) -> str:
    if hasattr(self._source, 'describe'):
      return self._source.describe(index)
    return f'{self._name} example {index}'

  def _read_all(self) -> tuple[np.ndarray, np.ndarray]:
    """Reads the whole split in chunks, decoded in parallel by grain."""
    start = time.perf_counter()
    n = len(self)
    chunks = grain.MapDataset.range(0, n, _CACHE_CHUNK).map(
        lambda i: self._read(np.arange(i, min(i + _CACHE_CHUNK, n))))
    options = grain.ReadOptions(num_threads=self._num_threads,
                                prefetch_buffer_size=2 * self._num_threads)
    images, labels = zip(*chunks.to_iter_dataset(options))
    images, labels = np.concatenate(images), np.concatenate(labels)
    logging.info('Loaded %s (%d examples, %.1f MB) into memory in %.1f s.',
                 self._name, n, images.nbytes / 1e6,
                 time.perf_counter() - start)
    return images, labels


def _examples(config, split: str) -> _Examples:
  """The split ('train', 'test' or a tfds split string) of config's dataset."""
  split = {'train': _get(config, 'train_split', 'train'),
           'test': _get(config, 'test_split', 'test')}.get(split, split)
  role = {_get(config, 'train_split', 'train'): 'train',
          _get(config, 'test_split', 'test'): 'test'}.get(split)
  data_dir = os.fspath(_get(config, 'data_dir', None)
                       or os.environ.get('TFDS_DATA_DIR')
                       or os.path.expanduser('~/tensorflow_datasets'))
  return _open_examples(
      dataset=config.dataset, data_dir=data_dir, split=split, role=role,
      fallback=_get(config, 'dataset_fallback', None),
      stored_size=_get(config, 'input.resize_size', None) or config.image_size,
      num_classes=_get(config, 'num_classes', None),
      synthetic_sizes=(_get(config, 'synthetic.num_train', 1024),
                       _get(config, 'synthetic.num_test', 256)),
      synthetic_channels=_get(config, 'synthetic.channels', 3),
      synthetic_seed=_get(config, 'synthetic.seed', 0),
      folder_test_fraction=_get(config, 'input.folder_test_fraction', 0.1),
      skip_corrupt=_get(config, 'input.skip_corrupt', False),
      cache_max_bytes=_get(config, 'input.cache_max_bytes',
                           _DEFAULT_CACHE_MAX_BYTES),
      num_threads=_get(config, 'input.num_threads', 2))


# Cached so that repeated eval_batches() calls reuse the open source and its
# in-memory copy instead of re-reading the split.
@functools.lru_cache(maxsize=8)
def _open_examples(*, dataset: str, data_dir: str, split: str,
                   role: str | None, fallback: str | None, stored_size: int,
                   num_classes: int | None, synthetic_sizes: tuple[int, int],
                   synthetic_channels: int, synthetic_seed: int,
                   folder_test_fraction: float, skip_corrupt: bool,
                   cache_max_bytes: int, num_threads: int) -> _Examples:
  """Opens a split; see `_examples`. Raises ValueError if not prepared."""
  size = stored_size
  root = folder.root_of(dataset)
  if (root is None and dataset != 'synthetic'
      and dataset not in _LOCAL_BUILDERS):
    builder = _prepared_builder(dataset, data_dir)
    if builder is None and fallback != 'synthetic':
      _check_known_to_tfds(dataset)
      raise ValueError(
          f'tfds dataset {dataset!r} is not prepared in array_record format in '
          f'{data_dir}; prepare it with: '
          f'{presets.prepare_command(dataset, data_dir)} (generation may '
          "need TensorFlow and network; reading does not), or set "
          "config.dataset_fallback='synthetic'")
    if builder is None:
      if dataset not in _warned_fallbacks:
        _warned_fallbacks.add(dataset)
        logging.warning('tfds dataset %r is not prepared in %s; using '
                        'synthetic data instead.', dataset, data_dir)
      dataset = 'synthetic'

  if root is not None:
    source = folder.FolderSource(root, split,
                                 test_fraction=folder_test_fraction)
    names = source.class_names
    shape = (size, size, 3)  # Grey, palette, CMYK, ... all become RGB.
    image_key, label_key, min_size = 'image', 'label', size
  elif dataset == 'synthetic':
    if role is None:
      raise ValueError(f'synthetic data has only the train and test splits, '
                       f'not {split!r}')
    if num_classes is None:
      raise ValueError('synthetic data needs config.num_classes')
    shape = (size, size, synthetic_channels)
    source = synthetic.SyntheticSource(
        num_examples=synthetic_sizes[role == 'test'], image_shape=shape,
        num_classes=num_classes, seed=synthetic_seed, split=role)
    names = [str(i) for i in range(num_classes)]
    image_key, label_key, min_size = 'image', 'label', None
  else:
    if dataset in _LOCAL_BUILDERS:
      builder = _LOCAL_BUILDERS[dataset](data_dir)
    image_key, label_key = _supervised_keys(builder)
    features = builder.info.features
    image_feature = features[image_key]
    encoded = isinstance(image_feature, tfds.features.Image)
    # Skip tfds's decoding of encoded images: `preprocess.decode_image`
    # converts all PIL modes to L/RGB and decodes JPEGs at reduced scale.
    decoders = {image_key: tfds.decode.SkipDecoding()} if encoded else None
    try:
      source = builder.as_data_source(split, decoders=decoders,
                                      file_format='array_record')
    except (KeyError, ValueError) as e:
      raise ValueError(f'cannot read split {split!r} of {dataset!r} (splits: '
                       f'{list(builder.info.splits)}): {e}') from e
    feature_shape = image_feature.shape
    channels = feature_shape[-1] if len(feature_shape) == 3 else 1
    shape = (size, size, channels or 3)
    min_size = size if encoded else None
    names = list(features[label_key].names)

  if num_classes is not None and num_classes != len(names):
    raise ValueError(f'config.num_classes={num_classes} but {dataset!r} '
                     f'has {len(names)} classes')
  if not len(source):
    raise ValueError(f'split {split!r} of {dataset!r} is empty')
  return _Examples(source, name=f'{dataset}[{split}]', image_key=image_key,
                   label_key=label_key, image_shape=shape, class_names=names,
                   min_size=min_size, skip_corrupt=skip_corrupt,
                   cache_max_bytes=cache_max_bytes, num_threads=num_threads)


def _check_known_to_tfds(name: str) -> None:
  """Raises a one-line ValueError if tfds has no dataset called `name`.

  Looks up tfds's registry of builder classes only: offline, milliseconds.
  """
  try:
    tfds.builder_cls(name.split(':')[0].split('/')[0])
  except tfds.core.DatasetNotFoundError:
    local = ', '.join(sorted(_LOCAL_BUILDERS))
    raise ValueError(
        f'unknown dataset {name!r}: not a tfds dataset, and not one of '
        f'{local}, synthetic, folder:DIR') from None


def _prepared_builder(name: str, data_dir: str):
  """The read-only builder of `name` in data_dir, or None if not prepared.

  tfds's `builder_from_files` reads only the prepared files (no generation
  code, never downloads), so a missing dataset costs milliseconds, offline.
  """
  try:
    builder = tfds.core.read_only_builder.builder_from_files(
        name, data_dir=data_dir)
  except tfds.core.DatasetNotFoundError:
    return None
  formats = builder.info.available_file_formats()
  if tfds.core.FileFormat.ARRAY_RECORD not in formats:
    return None  # e.g. prepared as tfrecord, which needs TensorFlow.
  return builder


def _supervised_keys(builder) -> tuple[str, str]:
  keys = builder.info.supervised_keys
  if (isinstance(keys, tuple) and len(keys) == 2
      and all(isinstance(k, str) for k in keys)):
    return keys
  return 'image', 'label'
