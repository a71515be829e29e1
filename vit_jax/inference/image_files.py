"""Image files named on the command line, read as the eval pipeline reads a
dataset's images.

`config.predict_inputs` is a file, a folder (its image files, recursively,
sorted) or a glob. Each image is decoded and converted to the run's channel
count exactly as the dataset sources do (preprocess.decode_image: any PIL
mode becomes grey or RGB), resized to the stored size R
(input.resize_size, default image_size), then run through the run's eval ops
(input.eval_ops, value range), so a file gives the model what the same image
in the test split would.
"""

import glob
import os

import numpy as np
from PIL import Image

from vit_jax.data.ops import op_lists
from vit_jax.data.ops import preprocess
from vit_jax.data.sources.folder import IMAGE_EXTENSIONS
from vit_jax.errors import ConfigError

# PIL modes without colour (alpha aside).
_GREY_MODES = frozenset({'1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16B', 'I;16L',
                         'I;16N', 'F'})


def list_inputs(spec: str) -> list[str]:
  """The image files `spec` names (file, folder or glob), sorted.

  Raises:
    ConfigError: nothing there, or a folder or glob without image files.
  """
  path = os.path.expanduser(spec)
  if os.path.isfile(path):
    return [path]
  if os.path.isdir(path):
    found = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(path) for name in names
        if not name.startswith('.')
        and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS)
    if not found:
      raise ConfigError(f'config.predict_inputs={spec!r}: folder has no '
                        f'image files ({", ".join(sorted(IMAGE_EXTENSIONS))})')
    return found
  if glob.has_magic(path):
    found = sorted(p for p in glob.glob(path, recursive=True)
                   if os.path.isfile(p))
    if not found:
      raise ConfigError(f'config.predict_inputs={spec!r}: no file matches')
    return found
  raise ConfigError(f'config.predict_inputs={spec!r}: no such file or folder')


def read_image(path: str, *, channels: int, size: int) -> np.ndarray:
  """One file -> uint8 [size, size, channels], as the dataset sources read it.

  Raises:
    ConfigError: not an image, or a colour image for a grey model.
  """
  try:
    with Image.open(path) as pil:
      mode = pil.mode
  except Exception as e:  # pylint: disable=broad-except
    # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
    raise ConfigError(f'cannot read image {path}: {type(e).__name__}: '
                      f'{str(e).splitlines()[0] if str(e) else ""}') from None
  if channels == 1 and mode not in _GREY_MODES:
    raise ConfigError(f'image {path} has colour channels (mode {mode}) but '
                      'the model takes 1 channel (grey); convert it first')
  if channels not in (1, 3):
    raise ConfigError(f'image {path}: the model takes {channels} channels; '
                      'image files give 1 (grey) or 3 (colour)')
  try:
    image = preprocess.decode_image(path, channels=channels, min_size=size)
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f'cannot decode image {path}: {type(e).__name__}: '
                      f'{str(e).splitlines()[0] if str(e) else ""}') from None
  return preprocess.resize([image], None, size=size)[0]


def eval_inputs(config, paths: list[str], channels: int) -> np.ndarray:
  """float32 [n, S, S, channels]: the files through the run's eval ops."""
  size = config.input.resize_size or config.image_size
  stored = np.stack([read_image(p, channels=channels, size=size)
                     for p in paths])
  ops = op_lists.eval_ops(config.input.eval_ops, image_size=config.image_size,
                          value_range=config.input.value_range)
  return preprocess.apply(ops, stored, None)
