"""The train and eval op lists that configs select by name.

Examples are stored (and cached) decoded and resized to R x R, R =
config.input.resize_size (default: image_size). A batch then runs, on uint8
[b, R, R, C]:

  train: config.input.train_ops (default ('random_shift',)), then RandAugment
    if config.input.randaugment = (num_layers, magnitude), then to_float;
  eval: config.input.eval_ops (default ('center_crop',)), then to_float.

Both lists must end at image_size x image_size (`check_output_size`). Names
(entries may also be ops themselves, `op(images, seeds) -> images`):

  random_shift         pad by config.input.random_shift pixels, random crop back
  random_resized_crop  random box (8-100% of the area, ratio 3/4-4/3) resized
                       to image_size
  flip_lr              mirror left-right with probability 1/2
  center_crop          central image_size window (identity if R = image_size)
  resize               resize to image_size

e.g. ImageNet-style: resize_size=256, train_ops=('random_resized_crop',
'flip_lr'), eval_ops=('center_crop',) at image_size 224.
"""

import functools
from typing import Sequence

import numpy as np

from vit_jax.data.ops import preprocess
from vit_jax.data.ops import randaugment as randaugment_lib
from vit_jax.data.ops import spatial

# Ops that draw from the examples' seeds: train only (eval gets no seeds).
_RANDOM = frozenset({'random_shift', 'random_resized_crop', 'flip_lr'})


def _named_ops(*, image_size: int,
               random_shift: int) -> dict[str, preprocess.Op]:
  return {
      'random_shift': functools.partial(preprocess.random_shift,
                                        pixels=random_shift),
      'random_resized_crop': functools.partial(spatial.random_resized_crop,
                                               size=image_size),
      'flip_lr': spatial.flip_lr,
      'center_crop': functools.partial(spatial.center_crop, size=image_size),
      'resize': functools.partial(preprocess.resize, size=image_size),
  }


def _resolve(names: Sequence, which: str, **params) -> list[preprocess.Op]:
  table = _named_ops(**params)
  ops = []
  for name in names:
    if callable(name):
      ops.append(name)
    elif name in table:
      ops.append(table[name])
    else:
      raise ValueError(f'unknown op {name!r} in config.input.{which}; known: '
                       f'{", ".join(table)}')
  return ops


def train_ops(names: Sequence, *, image_size: int, random_shift: int = 0,
              randaugment: tuple[int, float] | None = None,
              value_range: tuple[float, float] = (-1.0, 1.0)
              ) -> list[preprocess.Op]:
  """The train pipeline: uint8 [b, R, R, C] -> float32 [b, S, S, C].

  Args:
    names: op names (see the module docstring) or ops, run first.
    image_size: S, the model's input size.
    random_shift: pixels of 'random_shift'.
    randaugment: (num_layers, magnitude) or None for none.
    value_range: (low, high) that uint8 0 and 255 map to.

  Returns:
    The ops, for `preprocess.apply`.
  """
  ops = _resolve(names, 'train_ops', image_size=image_size,
                 random_shift=random_shift)
  if randaugment:
    num_layers, magnitude = randaugment
    ops.append(functools.partial(randaugment_lib.randaugment,
                                 num_layers=int(num_layers),
                                 magnitude=float(magnitude)))
  ops.append(functools.partial(preprocess.to_float,
                               value_range=tuple(value_range)))
  return ops


def eval_ops(names: Sequence, *, image_size: int,
             value_range: tuple[float, float] = (-1.0, 1.0)
             ) -> list[preprocess.Op]:
  """The eval pipeline: uint8 [b, R, R, C] -> float32 [b, S, S, C] (no
  randomness: ops get seeds None)."""
  random = _RANDOM.intersection(n for n in names if isinstance(n, str))
  if random:
    raise ValueError(f'config.input.eval_ops must be deterministic; remove '
                     f'{", ".join(sorted(random))}')
  ops = _resolve(names, 'eval_ops', image_size=image_size, random_shift=0)
  ops.append(functools.partial(preprocess.to_float,
                               value_range=tuple(value_range)))
  return ops


def check_output_size(ops: Sequence[preprocess.Op], which: str, *,
                      stored_shape: tuple[int, int, int],
                      image_size: int) -> None:
  """Raises ValueError unless `ops` map stored_shape images to image_size.

  Runs them on one black image (milliseconds), so a list that forgets to crop
  fails when the run is set up, not at the first step.

  Args:
    ops: the pipeline, from `train_ops` or `eval_ops`.
    which: 'train_ops' or 'eval_ops', for the message.
    stored_shape: (R, R, C) of the stored examples.
    image_size: the size the pipeline must produce.
  """
  seeds = preprocess.example_seeds(0, 0, np.zeros(1, np.int64))
  out = preprocess.apply(ops, np.zeros((1, *stored_shape), np.uint8), seeds)
  if out.shape[1:3] != (image_size, image_size):
    raise ValueError(
        f'config.input.{which} turn {stored_shape[0]}x{stored_shape[1]} '
        f'images into {out.shape[1]}x{out.shape[2]}, not image_size '
        f'{image_size}x{image_size}; add a crop or resize op')
