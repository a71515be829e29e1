"""tfds dataset `digits`: scikit-learn's bundled 8x8 handwritten digits.

1,797 real 8x8 greyscale images of the digits 0-9 (the UCI "optdigits" test
set, shipped inside scikit-learn, so preparing needs no network and takes about
a second).

Features:
  image: uint8 (8, 8, 1); sklearn's pixel value v in 0..16 is stored as
    round(v * 255 / 16).
  label: ClassLabel(num_classes=10).

Splits (fixed; change them only together with VERSION):
  test: 360 images, stratified by class (35-37 per class), chosen by
    `sklearn.model_selection.train_test_split(arange(1797), test_size=360,
    stratify=target, random_state=0)`; preparation checks a SHA-256 of the
    chosen indices, so a scikit-learn that splits differently fails loudly
    instead of silently changing the test set.
  train: the other 1,437 images.
Example keys are the indices into `load_digits()`; tfds stores each split in
its own (deterministic) hash order of the keys.

The data is written as array_record and read with `builder.as_data_source()`,
which needs no TensorFlow: the features are plain tensors, encoded by tfds's
NumPy example serializer. Use `load_builder()`, which prepares on first use.
"""

import contextlib
import fcntl
import hashlib
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

NUM_TRAIN = 1437
NUM_TEST = 360
# SHA-256 of the sorted test indices as little-endian int64.
TEST_INDICES_SHA256 = (
    '2fbaae31b8c6aad12464a07771b64269876d904bfed86f77a63c8265fa201621')


class Builder(tfds.core.GeneratorBasedBuilder):
  """sklearn's 8x8 digits with a fixed stratified 1,437 / 360 split."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://archive.ics.uci.edu/dataset/80',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Bundled with scikit-learn: nothing to download.
    # Imported here: only preparation needs scikit-learn.
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    from sklearn import model_selection  # pylint: disable=g-import-not-at-top

    digits = datasets.load_digits()
    labels = digits.target
    train, test = model_selection.train_test_split(
        np.arange(len(labels)), test_size=NUM_TEST, stratify=labels,
        random_state=0)
    digest = hashlib.sha256(np.sort(test).astype('<i8').tobytes()).hexdigest()
    if digest != TEST_INDICES_SHA256:
      raise RuntimeError(
          'scikit-learn chose a different digits test split than the fixed '
          'one (index hash mismatch); pin scikit-learn or bump VERSION.')
    # [1797, 8, 8, 1] uint8 in 0..255.
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    return {
        'train': self._generate_examples(images, labels, train),
        'test': self._generate_examples(images, labels, test),
    }

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield int(i), {'image': images[i], 'label': int(labels[i])}


def _default_data_dir() -> str:
  return os.environ.get('TFDS_DATA_DIR') or os.path.expanduser(
      '~/tensorflow_datasets')


def load_builder(data_dir: str | None = None) -> Builder:
  """Returns the digits builder, preparing the data first if missing.

  Args:
    data_dir: tfds data_dir; default $TFDS_DATA_DIR, else ~/tensorflow_datasets.

  Returns:
    A prepared Builder; read it with `builder.as_data_source(split)`.
  """
  return prepare_builder(Builder, data_dir)


def prepare_builder(builder_cls, data_dir: str | None = None, **kwargs):
  """Returns builder_cls(**kwargs) in data_dir, preparing it first if missing.

  For locally generated datasets (digits, pathfinder), written as
  array_record. Two processes may call this at once: preparation runs under
  an exclusive lock file in data_dir (one per dataset and config), and the
  second process re-checks after the lock and reuses the data. (Without the
  lock, tfds would build both in private `incomplete.*` dirs and the loser's
  final rename onto the existing dir would raise; the data would not be
  corrupted, but that process would crash.)

  Args:
    builder_cls: a tfds GeneratorBasedBuilder class.
    data_dir: tfds data_dir; default $TFDS_DATA_DIR, else ~/tensorflow_datasets.
    **kwargs: more builder arguments, e.g. `config`.

  Returns:
    The prepared builder.
  """
  data_dir = os.fspath(data_dir or _default_data_dir())

  def make():
    return builder_cls(data_dir=data_dir, file_format='array_record', **kwargs)

  builder = make()
  if builder.data_path.exists():  # tfds renames a complete dir into place.
    return builder
  epath.Path(data_dir).mkdir(parents=True, exist_ok=True)
  config = builder.builder_config
  name = builder.name + (f'-{config.name}' if config else '')
  with open(os.path.join(data_dir, f'.{name}.prepare.lock'), 'a') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file is closed.
    # A fresh builder: another process may have prepared it while we waited.
    builder = make()
    with _no_progress_bar():
      builder.download_and_prepare(file_format='array_record')
  return builder


@contextlib.contextmanager
def _no_progress_bar():
  """Hides tfds's tqdm bars (noise for short jobs), then restores."""
  was_active = getattr(tfds.core.utils.tqdm_utils, '_active', True)
  tfds.display_progress_bar(False)
  try:
    yield
  finally:
    tfds.display_progress_bar(was_active)
