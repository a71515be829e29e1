"""The interface between datasets and the input pipeline.

A `SourceKind` knows how to open the datasets of one kind (prepared tfds
datasets, image folders, ...), chosen by the dataset's name; opening a split
gives a `Source`: random access to its examples as named features.

  kind = registry.kind_for('folder:/data/pets')
  source = kind.open('folder:/data/pets', 'train', role='train',
                     settings=kind.settings(config))
  source.gather(np.array([3, 1])) -> {'image': uint8 [2, R, R, 3],
                                      'label': int32 [2]}

The pipeline never looks at a feature's name to decide what to do with it:
image ops apply to features declared `image=True`, everything else passes
through as gathered, so a dataset of token sequences with a padding mask
goes through the same deterministic, resumable batching.
"""

import abc
import dataclasses
from typing import Hashable, Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Feature:
  """One named feature of every example, as `Source.gather` returns it.

  Attributes:
    shape: per-example shape, e.g. (R, R, C) for a stored image, () for a
      label, (L,) for a token sequence.
    dtype: its NumPy dtype.
    image: uint8 [H, W, C] pixels; the config's image ops (resize, crops,
      RandAugment, value range) are applied to it. Other features are
      batched as they are.
  """
  shape: tuple[int, ...]
  dtype: np.dtype
  image: bool = False

  @property
  def nbytes(self) -> int:
    """Bytes of one example's value."""
    return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(
        self.dtype).itemsize


class Source(abc.ABC):
  """One opened split of a dataset, random access by example index.

  Attributes:
    name: 'dataset[split]', for messages and logs.
    class_names: label i is class_names[i] (empty for datasets without
      classes).
    features: name -> `Feature`, in the order `gather` returns them; the
      first image feature (else the first feature) is the model's input.
  """

  name: str
  class_names: Sequence[str]
  features: Mapping[str, Feature]

  @abc.abstractmethod
  def __len__(self) -> int:
    """Number of examples."""

  @abc.abstractmethod
  def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Examples `indices` (int [n], any order, repeats allowed, n may be 0):
    feature name -> [n, *feature.shape] of feature.dtype. Safe to call from
    several threads at once (grain computes batches in threads)."""


class SourceKind(abc.ABC):
  """How to open the datasets of one kind; registered in `registry`.

  Attributes:
    names: the dataset names it serves, literally (e.g. 'digits').
    patterns: how other names it serves are written, for messages (e.g.
      'folder:DIR').
    catch_all: serves every name that no other kind serves (tfds); one kind
      at most.
  """

  names: tuple[str, ...] = ()
  patterns: tuple[str, ...] = ()
  catch_all: bool = False

  def serves(self, dataset: str) -> bool:
    """Whether `dataset` (config.dataset) is one of this kind's."""
    return dataset in self.names

  def settings(self, config) -> Hashable:
    """The config fields that `open` reads, as a hashable value.

    `open` gets these instead of the config so that an opened split (and its
    in-memory copy) can be reused exactly when they are unchanged.
    """
    del config
    return ()

  @abc.abstractmethod
  def open(self, dataset: str, split: str, *, role: str | None,
           settings: Hashable) -> Source:
    """Opens split `split` of `dataset`.

    Args:
      dataset: config.dataset.
      split: the split to read, e.g. config.train_split ('train[:90%]').
      role: 'train' or 'test' when `split` is the config's train or test
        split, else None.
      settings: what `self.settings(config)` returned.

    Raises:
      NotPreparedError: the data is not there yet (the pipeline may fall
        back to config.dataset_fallback).
      ValueError: one line saying what is wrong (missing split, ...).
    """


class NotPreparedError(ValueError):
  """A dataset that is not prepared for reading (for tfds, also a name it
  does not know), so that config.dataset_fallback may replace it.

  Attributes:
    summary: what is missing, e.g. "tfds dataset 'cifar10' is not prepared in
      DIR", for the warning when config.dataset_fallback replaces it.
  """

  def __init__(self, message: str, *, summary: str):
    super().__init__(message)
    self.summary = summary
