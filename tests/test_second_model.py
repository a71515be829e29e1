"""A second model and task, registered entirely from this file, trained by
the one trainer through `launch.py` (this file is also the config file), and
resumed bit-identically.

The toy: a linear map of the flattened 8x8 digits (with dropout, so the task's
rng stream matters) regressed onto one-hot labels with squared error. Nothing
in vit_jax knows its names: the model, the task, their metric ('test/mse') and
throughput unit ('digits') come from here.
"""

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import common
from vit_jax import models
from vit_jax import tasks
from vit_jax.data import digits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 180


@models.register('toy_linear')
class ToyLinear(nn.Module):
  """Images [b, H, W, C] -> [b, num_outputs] by one Dense layer."""
  DEFAULT_TASK = 'toy_squared_error'
  num_outputs: int
  dropout_rate: float = 0.1

  @nn.compact
  def __call__(self, images, *, train: bool):
    x = images.reshape(images.shape[0], -1)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
    return nn.Dense(self.num_outputs, name='out')(x)


@tasks.register('toy_squared_error')
class ToySquaredError(tasks.Task):
  """Squared error between the outputs and the one-hot label."""
  unit = 'digits'
  metric_names = ('mse',)

  def model_kwargs(self, info):
    return {'num_outputs': info.num_classes}

  def init_inputs(self, info):
    return (jax.ShapeDtypeStruct((1,) + info.image_shape, jnp.float32),)

  def model_inputs(self, batch):
    return (batch['image'],)

  def random_batch(self, info, batch_size, rng):
    return {'image': rng.normal(size=(batch_size,) + info.image_shape
                                ).astype(np.float32),
            'label': rng.integers(0, info.num_classes, batch_size
                                  ).astype(np.int32)}

  def _errors(self, outputs, labels):  # [b]
    targets = jax.nn.one_hot(labels, outputs.shape[-1])
    return jnp.mean((outputs - targets)**2, axis=-1)

  def loss_and_metrics(self, model, params, batch, rngs):
    outputs = model.apply({'params': params}, batch['image'], train=True,
                          rngs=rngs)
    loss = self._errors(outputs, batch['label']).mean()
    return loss, {'mse': loss}

  def eval_sums(self, model, params, batch):
    outputs = model.apply({'params': params}, batch['image'], train=False)
    errors = self._errors(outputs, batch['label'])
    return {'squared_error_sum': jnp.sum(errors * batch['mask']),
            'count': jnp.sum(batch['mask'])}

  def eval_metrics(self, sums):
    count = float(sums['count'])
    return {'mse': float(sums['squared_error_sum']) / count, 'count': count}


def get_config(arg=None):
  """The toy's experiment config (this file is passed to launch.py)."""
  del arg
  config = common.trainer_defaults()
  config.dataset = 'digits'
  config.image_size = 8
  config.model = dict(name='toy_linear', dropout_rate=0.1)
  config.summary_metric = 'test/mse'
  config.batch_size = 32
  config.eval_batch_size = 128
  config.lr.base = 0.01
  config.lr.decay = 'constant'  # The same steps whatever total_steps is.
  config.total_steps = 8
  config.log_every_steps = 2
  config.eval_every_steps = 4
  config.checkpoint_every_steps = 2
  return config


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  path = tmp_path_factory.getbasetemp() / 'tfds_digits'
  digits.load_builder(str(path))  # Shared with other modules; idempotent.
  return str(path)


def _launch(workdir, data_dir, *flags):
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  proc = subprocess.run(
      [sys.executable, 'launch.py', f'--config={os.path.abspath(__file__)}',
       f'--config.data_dir={data_dir}', f'--workdir={workdir}', *flags],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout + proc.stderr


def _metric_rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def test_toy_model_and_task_train_and_resume_through_launch(data_dir,
                                                            tmp_path):
  from vit_jax.training import trainer
  whole, split = str(tmp_path / 'whole'), str(tmp_path / 'split')
  out = _launch(whole, data_dir)
  assert 'final test mse' in out, out[-2000:]
  _launch(split, data_dir, '--config.total_steps=4')
  out = _launch(split, data_dir)
  assert 'resumed from step 4' in out, out[-2000:]

  config, state_whole = trainer.load_state(whole)
  _, state_split = trainer.load_state(split)
  assert config.model.name == 'toy_linear' and int(state_whole.step) == 8
  jax.tree.map(np.testing.assert_array_equal,
               jax.device_get(state_whole), jax.device_get(state_split))

  rows = _metric_rows(whole)
  assert all(np.isfinite(r['train/loss']) for r in rows if 'train/loss' in r)
  assert any('train/digits_per_s' in r for r in rows)
  assert not any('train/accuracy' in r for r in rows)  # Not classification.
  tests = [r for r in rows if 'test/mse' in r]
  assert [r['step'] for r in tests] == [4, 8]
  assert tests[-1]['test/count'] == 360
  # It learns: the test error falls between the two evaluations.
  assert tests[-1]['test/mse'] < tests[0]['test/mse']
  split_tests = [r for r in _metric_rows(split) if 'test/mse' in r]
  assert split_tests[-1]['test/mse'] == tests[-1]['test/mse']
