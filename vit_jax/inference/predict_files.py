"""mode='predict' with `config.predict_inputs`: the top classes of image files.

  python launch.py --config=configs/default.py:full --workdir=runs/digits_full \
      --config.mode=predict --config.predict_inputs='digits_png/*.png'

prints, per file, the `predict_top_k` most probable classes with their names
(WORKDIR/class_names.json of the run, else the dataset's) and softmax
probabilities. Weights: the workdir's latest checkpoint, else init_from.
Reads only: safe on a running run and a read-only workdir.
"""

import json
import os

import jax
import numpy as np

from vit_jax.errors import ConfigError
from vit_jax.inference import image_files
from vit_jax.inference import run_params
from vit_jax.training import steps
from vit_jax.training import trainer
from vit_jax.training import workdir as workdir_lib


def class_names_of(workdir: str, dataset_names: list[str]) -> list[str]:
  """The run's recorded class names if it has them, else the dataset's."""
  path = os.path.join(workdir, workdir_lib.CLASS_NAMES_FILE)
  if os.path.isfile(path):
    try:
      with open(path) as f:
        return [str(n) for n in json.load(f)]
    except (OSError, ValueError) as e:
      raise ConfigError(f'cannot read {path}: {e}') from None
  return [str(n) for n in dataset_names]


def predict_files(config, workdir: str) -> list[dict]:
  """Prints and returns [{'path', 'top': [(class name, probability)]}].

  Raises:
    ConfigError: a bad input (one line naming it), config or workdir.
  """
  run, dataset_names = trainer.build_run(config, workdir)
  workdir_lib.check(workdir, config, allowed=run_params.ALLOWED_CHANGES)
  paths = image_files.list_inputs(config.predict_inputs)
  channels = run.info.image_shape[-1]
  inputs = image_files.eval_inputs(config, paths, channels)  # [n, S, S, C]
  names = class_names_of(workdir, dataset_names)
  params, _, origin = run_params.load(run)
  forward = steps.make_predict_fn(run.model, run.task, run.mesh)
  logits = []
  for start in range(0, len(inputs), config.eval_batch_size):
    batch = {'image': inputs[start:start + config.eval_batch_size]}
    logits.append(np.asarray(jax.device_get(forward(params, batch))))
  probs = np.asarray(jax.nn.softmax(np.concatenate(logits), axis=-1))
  if probs.shape[-1] != len(names):
    raise ConfigError(f'the model has {probs.shape[-1]} outputs but '
                      f'{len(names)} class names')
  k = min(config.predict_top_k, probs.shape[-1])
  results = []
  if jax.process_index() == 0:
    print(f'predict: {len(paths)} image(s), weights from {origin}',
          flush=True)
  for path, p in zip(paths, probs):
    top = np.argsort(-p, kind='stable')[:k]
    results.append({'path': path,
                    'top': [(names[i], float(p[i])) for i in top]})
    if jax.process_index() == 0:
      shown = '  '.join(f'{names[i]} {p[i]:.4f}' for i in top)
      print(f'{path}: {shown}', flush=True)
  return results
