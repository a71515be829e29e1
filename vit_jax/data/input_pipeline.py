"""Deterministic, resumable train/eval batch iterators for the trainer.

config.dataset selects a source kind (vit_jax/data/sources: prepared tfds
datasets, the local digits and pathfinder builders, 'folder:DIR',
'synthetic'); this module only sees the opened split, a random-access
`Source` whose `gather(indices)` gives named features (today 'image', uint8
[R, R, C] decoded and resized to R = input.resize_size, default image_size,
and 'label'). Small splits are gathered once into memory
(sources/in_memory, `config.input.cache_max_bytes`).

Every split goes through the same path: gather the batch's examples, run the
per-batch ops selected by name on its image features (vit_jax/data/ops/
op_lists: train default random shift; eval default center crop, an identity
when R = image_size), then the value range, and for training optionally
mixup; features that are not images pass through as gathered. grain
computes the batches in `config.input.num_threads` threads and keeps
`config.input.prefetch` of them ready, in order.

Determinism: row r of the global batch at step s is position
p = s * batch_size + r of an endless stream, which is example
`perm(seed, p // N)[p % N]` of the split (a fresh permutation per epoch), and
its augmentation is seeded by (seed, s, r). A batch is therefore a pure
function of (config, step), so `train_batches(config, start_step=s)` resumes
bit-exactly, and process i of n gets rows [i * b, (i + 1) * b) of the same
global batch.

Config fields read here: seed, image_size, batch_size, eval_batch_size,
input.{train_ops, eval_ops, random_shift, randaugment, value_range,
mixup_alpha, num_threads, prefetch}; the sources read the dataset's own
(see vit_jax/data/sources).
"""

import dataclasses
import functools
from typing import Any, Iterator

import grain
import numpy as np

from vit_jax.data import sources
from vit_jax.data.ops import mixup
from vit_jax.data.ops import op_lists
from vit_jax.data.ops import preprocess

# Steps are indexed by an (effectively) infinite grain range.
_MAX_STEPS = 2**62


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the model and trainer need to know about the data."""
  num_classes: int
  num_train: int
  num_test: int
  image_shape: tuple  # (H, W, C) after preprocessing: the model's input.


def dataset_info(config) -> DatasetInfo:
  """Sizes, classes and image shape of config's dataset (prepares local
  datasets).

  Raises:
    ValueError: (one line) the dataset is missing or not prepared, or the
      config's num_classes, splits or input ops do not fit it.
  """
  train = sources.open_split(config, 'train')
  test = sources.open_split(config, 'test')
  _train_ops(config, train)
  _eval_ops(config, test)
  return DatasetInfo(num_classes=len(train.class_names), num_train=len(train),
                     num_test=len(test),
                     image_shape=_input_shape(config, train))


def class_names(config) -> list[str]:
  """The names of config's classes; label i is name i.

  Folder datasets: the class folders' names, sorted. tfds datasets: the label
  feature's names ('0', '1', ... if it has none). Synthetic: '0', '1', ...

  Raises:
    ValueError: as `dataset_info`.
  """
  return list(sources.open_split(config, 'train').class_names)


def train_batches(config, *, start_step: int = 0, process_index: int = 0,
                  process_count: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Infinite iterator over this process's part of each global train batch.

  Args:
    config: the experiment config (fields: see the module docstring).
    start_step: global step of the first batch yielded.
    process_index: this process; it gets rows [i * b, (i + 1) * b).
    process_count: number of processes sharing each global batch.

  Returns:
    Iterator of the source's features, b = config.batch_size //
    process_count rows each: for image datasets {'image': float32
    [b, H, W, C] in input.value_range (default [-1, 1]), 'label': int32
    [b]}; with input.mixup_alpha > 0 also 'label_mix' int32 [b] and
    'mix_weight' float32 [b], the weight of 'label' (vit_jax/data/ops/mixup).
  """
  if start_step < 0:
    raise ValueError(f'start_step must be >= 0, got {start_step}')
  examples = sources.open_split(config, 'train')
  global_batch = config.batch_size
  rows = _process_rows(global_batch, process_index, process_count)  # [b]
  seed = config.seed
  ops = _train_ops(config, examples)
  mixup_alpha = config.input.mixup_alpha
  permutation = _epoch_permutations(seed, len(examples))

  def batch_at(step: int) -> dict[str, np.ndarray]:
    positions = step * global_batch + rows  # [b] in the endless stream.
    epochs, within = np.divmod(positions, len(examples))
    indices = np.empty_like(positions)
    for epoch in np.unique(epochs):  # At most two unless batch > epoch.
      in_epoch = epochs == epoch
      indices[in_epoch] = permutation(int(epoch))[within[in_epoch]]
    seeds = preprocess.example_seeds(seed, step, rows)
    batch = _preprocess(examples, examples.gather(indices), ops, seeds)
    if mixup_alpha:
      # Mixup mixes the image with the label; image classification only.
      batch.update(mixup.mixup(batch['image'], batch['label'], seeds,
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
      config.train_split) or any other split string of the source.
    process_index: this process; it gets rows [i * b, (i + 1) * b).
    process_count: number of processes sharing each global batch.

  Returns:
    Iterator of the source's features (for image datasets {'image': float32
    [b, H, W, C], 'label': int32 [b]}) and 'mask' float32 [b], with b =
    config.eval_batch_size // process_count; padding rows (only in the last
    global batch) are all zeros with mask 0.
  """
  examples = sources.open_split(config, split)
  if 'mask' in examples.features:
    raise ValueError(f'{examples.name} has a feature named mask, the key '
                     'that marks the real rows of eval batches; rename it')
  global_batch = config.eval_batch_size
  rows = _process_rows(global_batch, process_index, process_count)  # [b]
  num_batches = -(-len(examples) // global_batch)
  ops = _eval_ops(config, examples)
  # One all-zero example through the ops: each feature's shape and dtype in
  # a batch, for the padding rows.
  blank = _preprocess(examples, {
      k: np.zeros((1, *f.shape), f.dtype)
      for k, f in examples.features.items()}, ops, None)

  def batch_at(index: int) -> dict[str, np.ndarray]:
    positions = index * global_batch + rows  # [b]
    real = positions < len(examples)  # [b]; a prefix, as rows are ascending.
    batch = {k: np.zeros((len(rows), *v.shape[1:]), v.dtype)
             for k, v in blank.items()}
    if real.any():  # Not in another process's part of the last batch.
      gathered = examples.gather(positions[real])
      for k, v in _preprocess(examples, gathered, ops, None).items():
        batch[k][real] = v
    batch['mask'] = real.astype(np.float32)
    return batch

  return _prefetch(grain.MapDataset.range(num_batches).map(batch_at), config)


def _preprocess(examples: sources.Source, features: dict[str, np.ndarray],
                ops: list[preprocess.Op],
                seeds: np.ndarray | None) -> dict[str, np.ndarray]:
  """Runs `ops` on the image features; the others pass through."""
  return {k: preprocess.apply(ops, v, seeds) if examples.features[k].image
          else v for k, v in features.items()}


def _prefetch(batches: grain.MapDataset, config) -> Iterator[dict[str, Any]]:
  """Computes batches in background threads, yielded in order."""
  options = grain.ReadOptions(num_threads=config.input.num_threads,
                              prefetch_buffer_size=config.input.prefetch)
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


def _input_shape(config, examples: sources.Source) -> tuple[int, ...]:
  """One example's model input after preprocessing: the first image feature
  at image_size (where the op lists end), else the first feature."""
  for feature in examples.features.values():
    if feature.image:
      return (config.image_size, config.image_size, feature.shape[-1])
  return next(iter(examples.features.values())).shape


def _train_ops(config, examples: sources.Source) -> list[preprocess.Op]:
  """The checked train op list of config (see vit_jax/data/ops/op_lists)."""
  if config.input.mixup_alpha < 0:
    raise ValueError(f'config.input.mixup_alpha must be >= 0 (0: off), got '
                     f'{config.input.mixup_alpha}')
  ops = op_lists.train_ops(
      config.input.train_ops, image_size=config.image_size,
      random_shift=config.input.random_shift,
      randaugment=config.input.randaugment,
      value_range=config.input.value_range)
  _check_output_size(config, examples, ops, 'train_ops')
  return ops


def _eval_ops(config, examples: sources.Source) -> list[preprocess.Op]:
  """The checked eval op list of config."""
  ops = op_lists.eval_ops(config.input.eval_ops,
                          image_size=config.image_size,
                          value_range=config.input.value_range)
  _check_output_size(config, examples, ops, 'eval_ops')
  return ops


def _check_output_size(config, examples: sources.Source,
                       ops: list[preprocess.Op], which: str) -> None:
  for feature in examples.features.values():
    if feature.image:
      op_lists.check_output_size(ops, which, stored_shape=feature.shape,
                                 image_size=config.image_size)
