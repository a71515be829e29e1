"""Named tfds datasets: class counts, splits and default image sizes.

Each is read as a tfds data source from a data dir where it was prepared in
array_record format (`prepare_command` says how); configs fill their fields
from here with `configs/common.py:set_dataset`. Other tfds names work too,
with the config's own num_classes, splits and image_size.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Preset:
  """What a config needs to know about a tfds dataset.

  Attributes:
    num_classes: number of labels.
    train_split: tfds split (slicing allowed) trained on.
    test_split: tfds split evaluated on.
    image_size: the usual model input size for it.
    manual_files: files `tfds build` needs in --manual_dir (empty: it
      downloads everything itself).
  """
  num_classes: int
  train_split: str
  test_split: str
  image_size: int
  manual_files: tuple[str, ...] = ()


PRESETS = {
    'cifar10': Preset(10, 'train', 'test', 32),
    'cifar100': Preset(100, 'train', 'test', 32),
    # 3,680 train / 3,669 test photos of 37 breeds.
    'oxford_iiit_pet': Preset(37, 'train', 'test', 224),
    # One 23,262-image split (tfds drops Kaggle's 1,738 corrupt files): the
    # last 10% is the test set.
    'cats_vs_dogs': Preset(2, 'train[:90%]', 'train[90%:]', 224),
    # The test split has no labels: evaluate on validation.
    'imagenet2012': Preset(
        1000, 'train', 'validation', 224,
        manual_files=('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')),
}


def prepare_command(name: str, data_dir: str) -> str:
  """The shell command that prepares tfds dataset `name` for reading here."""
  command = (f'tfds build {name} --file_format=array_record '
             f'--data_dir={data_dir}')
  preset = PRESETS.get(name)
  if preset and preset.manual_files:
    command += (f' --manual_dir=DIR (DIR holding '
                f'{" and ".join(preset.manual_files)}, downloaded by hand)')
  return command
