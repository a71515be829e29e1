"""Image files in class folders: the source kind of `dataset='folder:DIR'`.

Three layouts:

  DIR/train/<class>/*.jpg, DIR/test/<class>/*.png  split folders: a split is
      the folder of that name (e.g. config.test_split='val' reads DIR/val);
  DIR/<class>/*.jpg  class folders only, e.g. Microsoft's PetImages/{Cat,Dog};
  DIR/<class>.<id>.jpg  no folders, the class before the first dot, e.g.
      Kaggle's dogs-vs-cats train/ (cat.0.jpg, dog.0.jpg, ...).

Without split folders, splits 'train' and 'test' are made here, stratified:
within each class the files are ordered by a hash of their name and the first
round(test_fraction * n) are test. The split depends only on the file names
(not on the order the file system lists them in).

Classes are sorted (Python string order), label = position; with split
folders they are those of DIR/train, and other splits may not have more.
Files with an image extension (.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif,
.tiff; any case) are listed; others (PetImages' Thumbs.db) and hidden entries
are ignored. Listing reads directories only, never the images, so it takes
well under a second for 25,000 photos; images are decoded when read (see
image_records: corrupt files raise there, or are skipped with
config.input.skip_corrupt).

Records are {'image': path, 'label': int}; `preprocess.decode_image` opens
paths. Images of any mode become RGB.
"""

import dataclasses
import hashlib
import os

import numpy as np

from vit_jax.data.sources import base
from vit_jax.data.sources import image_records
from vit_jax.data.sources import registry

PREFIX = 'folder:'
IMAGE_EXTENSIONS = frozenset(
    {'.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff'})
# The split folder whose classes define the labels.
_TRAIN_DIR = 'train'


def root_of(dataset: str) -> str | None:
  """'folder:DIR' -> DIR (with ~ expanded); None for other datasets."""
  if not dataset.startswith(PREFIX):
    return None
  return os.path.expanduser(dataset[len(PREFIX):])


def class_names(root: str) -> list[str]:
  """The sorted class names of the folder dataset at `root`.

  Raises:
    ValueError: root is missing or has no classes.
  """
  return sorted(_list_classes(_classes_dir(root), root))


def _classes_dir(root: str) -> str:
  """The folder whose listing defines the classes: root or root/train."""
  if not os.path.isdir(root):
    raise ValueError(f'image folder {root} does not exist or is not a '
                     'directory')
  train = os.path.join(root, _TRAIN_DIR)
  return train if os.path.isdir(train) else root


def _list_classes(directory: str, root: str) -> dict[str, list[str]]:
  """class name -> sorted paths of its images under `directory`.

  Class folders if `directory` has any sub-folders, else file names
  '<class>.<id>.<ext>'.
  """
  with os.scandir(directory) as entries:
    entries = [e for e in entries if not e.name.startswith('.')]
  subdirs = sorted(e.name for e in entries if e.is_dir())
  if subdirs:
    return {name: [os.path.join(directory, name, f)
                   for f in _image_files(os.path.join(directory, name))]
            for name in subdirs}
  classes = {}
  for name in _image_files(directory):
    label, dot, rest = name.partition('.')
    if not (dot and label and '.' in rest):
      raise ValueError(
          f'image folder {directory} has neither class folders nor files '
          f'named <class>.<id>.<ext> (found {name}); expected '
          f'{root}/train/<class>/*.jpg and {root}/test/<class>/*.jpg, '
          f'{root}/<class>/*.jpg or {root}/<class>.<id>.jpg')
    classes.setdefault(label, []).append(os.path.join(directory, name))
  if not classes:
    raise ValueError(
        f'image folder {directory} has no class folders and no images; '
        f'expected {root}/train/<class>/*.jpg and {root}/test/<class>/*.jpg, '
        f'{root}/<class>/*.jpg or {root}/<class>.<id>.jpg')
  return classes


def _image_files(directory: str) -> list[str]:
  with os.scandir(directory) as entries:
    return sorted(
        e.name for e in entries
        if not e.name.startswith('.') and e.is_file()
        and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)


def _is_test(paths: list[str], test_fraction: float) -> np.ndarray:
  """bool [n]: the round(test_fraction * n) files first in name-hash order."""
  keys = [hashlib.sha1(os.path.basename(p).encode('utf-8', 'surrogateescape'))
          .digest() for p in paths]
  order = sorted(range(len(paths)), key=keys.__getitem__)
  is_test = np.zeros(len(paths), bool)
  is_test[order[:round(test_fraction * len(paths))]] = True
  return is_test


class FolderSource:
  """`len()` and `[i]` -> {'image': path (str), 'label': int} of one split.

  Attributes:
    class_names: sorted class names; label i is class_names[i].
    root: the dataset folder.
  """

  def __init__(self, root: str, split: str, *, test_fraction: float = 0.1):
    """Lists the split's images.

    Args:
      root: the dataset folder (any layout, see the module docstring).
      split: a split folder's name, or 'train' / 'test' for a folder without
        split folders.
      test_fraction: share of each class that is test, for a folder without
        split folders.

    Raises:
      ValueError: a missing folder, split or classes, or no images.
    """
    self.root = root
    classes_dir = _classes_dir(root)
    classes = _list_classes(classes_dir, root)
    self.class_names = sorted(classes)
    if classes_dir != root:  # Split folders.
      split_dir = os.path.join(root, split)
      if not os.path.isdir(split_dir):
        with os.scandir(root) as entries:
          found = sorted(e.name for e in entries if e.is_dir())
        raise ValueError(f'image folder {root} has no {split!r} folder '
                         f'(it has: {", ".join(found)})')
      if split_dir != classes_dir:
        classes = _list_classes(split_dir, root)
      extra = set(classes) - set(self.class_names)
      if extra:
        raise ValueError(f'{split_dir} has classes that {classes_dir} lacks: '
                         f'{", ".join(sorted(extra))}')
    elif split not in ('train', 'test'):
      raise ValueError(f'image folder {root} has no split folders, so its '
                       f"splits are 'train' and 'test', not {split!r}")
    elif not 0 <= test_fraction < 1:
      raise ValueError(f'folder test fraction must be in [0, 1), got '
                       f'{test_fraction}')
    else:
      classes = {name: [p for p, test in zip(paths, _is_test(
          paths, test_fraction)) if test == (split == 'test')]
                 for name, paths in classes.items()}

    self._paths, self._labels = [], []
    for label, name in enumerate(self.class_names):
      paths = classes.get(name, [])  # A class may lack in a split folder.
      self._paths += paths
      self._labels += [label] * len(paths)
    if not self._paths:
      raise ValueError(
          f'split {split!r} of image folder {root} has no images (looked for '
          f'{", ".join(sorted(IMAGE_EXTENSIONS))} files)')

  def __len__(self) -> int:
    return len(self._paths)

  def __getitem__(self, index: int) -> dict[str, str | int]:
    index = int(index)
    return {'image': self._paths[index], 'label': self._labels[index]}

  def __getitems__(self, indices) -> list[dict[str, str | int]]:
    return [self[i] for i in indices]

  def describe(self, index: int) -> str:
    """Names example `index` in error messages: its path."""
    return self._paths[int(index)]


@dataclasses.dataclass(frozen=True)
class FolderSettings:
  """Attributes: image: see image_records.ImageSettings; test_fraction:
  config.input.folder_test_fraction."""
  image: image_records.ImageSettings
  test_fraction: float


@registry.register
class Folders(base.SourceKind):
  """Datasets named 'folder:DIR'."""

  patterns = (PREFIX + 'DIR',)

  def serves(self, dataset: str) -> bool:
    return root_of(dataset) is not None

  def settings(self, config) -> FolderSettings:
    return FolderSettings(image=image_records.ImageSettings.of(config),
                          test_fraction=config.input.folder_test_fraction)

  def open(self, dataset: str, split: str, *, role: str | None,
           settings: FolderSettings) -> base.Source:
    del role  # A split is a folder, or 'train' / 'test' made here.
    records = FolderSource(root_of(dataset), split,
                           test_fraction=settings.test_fraction)
    return image_records.ImageRecords(
        records, name=f'{dataset}[{split}]',
        class_names=records.class_names,
        channels=3,  # Grey, palette, CMYK, ... all become RGB.
        settings=settings.image)
