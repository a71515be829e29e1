"""Any tfds dataset prepared in array_record format: the catch-all kind.

Read without TensorFlow through tfds data sources from config.data_dir
(else $TFDS_DATA_DIR, else ~/tensorflow_datasets); vit_jax/data/presets
lists the usual ones. A dataset that is not prepared there stops the run
with the `tfds build ...` command that prepares it (or, with
config.dataset_fallback, is replaced by that dataset); a name tfds does not
know is reported as unknown, listing the other kinds' names.

`open_builder_split` is shared with the local builders (local_builders),
which are tfds datasets too.
"""

import dataclasses
import os

import tensorflow_datasets as tfds

from vit_jax.data import presets
from vit_jax.data.sources import base
from vit_jax.data.sources import image_records
from vit_jax.data.sources import registry


@dataclasses.dataclass(frozen=True)
class TfdsSettings:
  """Attributes: data_dir: where prepared datasets are; image: see
  image_records.ImageSettings."""
  data_dir: str
  image: image_records.ImageSettings

  @classmethod
  def of(cls, config) -> 'TfdsSettings':
    data_dir = os.fspath(config.data_dir
                         or os.environ.get('TFDS_DATA_DIR')
                         or os.path.expanduser('~/tensorflow_datasets'))
    return cls(data_dir=data_dir,
               image=image_records.ImageSettings.of(config))


@registry.register
class PreparedTfds(base.SourceKind):
  """Every name no other kind serves is taken for a tfds dataset name."""

  catch_all = True

  def settings(self, config) -> TfdsSettings:
    return TfdsSettings.of(config)

  def open(self, dataset: str, split: str, *, role: str | None,
           settings: TfdsSettings) -> base.Source:
    del role  # tfds splits are named by the split string alone.
    builder = _prepared_builder(dataset, settings.data_dir)
    if builder is None:
      summary = (f'tfds dataset {dataset!r} is not prepared in '
                 f'{settings.data_dir}')
      _check_known_to_tfds(dataset, summary)
      raise base.NotPreparedError(
          f'tfds dataset {dataset!r} is not prepared in array_record format '
          f'in {settings.data_dir}; prepare it with: '
          f'{presets.prepare_command(dataset, settings.data_dir)} (generation '
          "may need TensorFlow and network; reading does not), or set "
          "config.dataset_fallback='synthetic'", summary=summary)
    return open_builder_split(builder, dataset, split, settings.image)


def open_builder_split(builder, dataset: str, split: str,
                       settings: image_records.ImageSettings
                       ) -> image_records.ImageRecords:
  """Split `split` of a prepared tfds builder as image records.

  Raises:
    ValueError: the builder has no such split.
  """
  image_key, label_key = _supervised_keys(builder)
  features = builder.info.features
  image_feature = features[image_key]
  encoded = isinstance(image_feature, tfds.features.Image)
  # Skip tfds's decoding of encoded images: `preprocess.decode_image`
  # converts all PIL modes to L/RGB and decodes JPEGs at reduced scale.
  decoders = {image_key: tfds.decode.SkipDecoding()} if encoded else None
  try:
    records = builder.as_data_source(split, decoders=decoders,
                                     file_format='array_record')
  except (KeyError, ValueError) as e:
    raise ValueError(f'cannot read split {split!r} of {dataset!r} (splits: '
                     f'{list(builder.info.splits)}): {e}') from e
  feature_shape = image_feature.shape
  channels = feature_shape[-1] if len(feature_shape) == 3 else 1
  return image_records.ImageRecords(
      records, name=f'{dataset}[{split}]',
      class_names=list(features[label_key].names), channels=channels or 3,
      settings=settings, image_key=image_key, label_key=label_key,
      encoded=encoded)


def _check_known_to_tfds(name: str, summary: str) -> None:
  """Raises a one-line NotPreparedError if tfds has no dataset `name`.

  Looks up tfds's registry of builder classes only: offline, milliseconds.
  """
  try:
    tfds.builder_cls(name.split(':')[0].split('/')[0])
  except tfds.core.DatasetNotFoundError:
    raise base.NotPreparedError(
        f'unknown dataset {name!r}: not a tfds dataset, and not one of '
        f'{registry.known_names()}', summary=summary) from None


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
