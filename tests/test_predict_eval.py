"""mode=predict on image files (top-5 with class names, eval preprocessing,
one-line errors) and mode=eval (a checkpoint's metrics appended to the
workdir, checkpoints untouched). CPU, offline, 8 fake devices."""

import contextlib
import copy
import io
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from configs import default
from vit_jax import experiment
from vit_jax.data import input_pipeline
from vit_jax.errors import ConfigError
from vit_jax.training import trainer

from test_training import data_dir  # noqa: F401 (fixture)
from test_training import shared_compilation_cache  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




SMALL = {
    'image_size': 8, 'model.patch_size': 4, 'model.hidden_size': 16,
    'model.transformer.num_layers': 1, 'model.transformer.num_heads': 2,
    'model.transformer.mlp_dim': 16, 'batch_size': 32,
    'eval_batch_size': 64, 'total_epochs': None, 'total_steps': 30,
    'lr.warmup_steps': 0, 'log_every_steps': 10, 'eval_every_steps': 1000,
    'checkpoint_every_steps': 10}


def small_config(data_dir, **overrides):
  """configs/default.py:full shrunk to seconds (dim 16, one block)."""
  config = default.get_config('full')
  config.lock()
  config.update_from_flattened_dict({**SMALL, 'data_dir': data_dir})
  config.update_from_flattened_dict(
      {k.replace('__', '.'): v for k, v in overrides.items()})
  return config


def quietly(fn, *args):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = fn(*args)
  return result, out.getvalue()


@pytest.fixture(scope='module')
def run_dir(data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  final, _ = quietly(trainer.train_and_evaluate, small_config(data_dir),
                     workdir)
  return workdir, final


@pytest.fixture(scope='module')
def pngs(data_dir, tmp_path_factory):
  """The first 6 test digits as grey PNGs (the stored 8x8), their labels."""
  folder = tmp_path_factory.mktemp('pngs')
  config = small_config(data_dir)
  batch = next(input_pipeline.eval_batches(config))
  labels = []
  for i in range(6):
    image = np.round((batch['image'][i, ..., 0] + 1) * 127.5).astype(np.uint8)
    Image.fromarray(image).save(folder / f'digit_{i}.png')
    labels.append(int(batch['label'][i]))
  return str(folder), labels


def with_mode(config, **fields):
  config = copy.deepcopy(config)
  config.update_from_flattened_dict(fields)
  return config


def test_predict_prints_top5_with_names_and_probabilities(run_dir, pngs,
                                                          data_dir):
  workdir, _ = run_dir
  folder, labels = pngs
  config = with_mode(small_config(data_dir), mode='predict',
                     predict_inputs=folder)
  with open(os.path.join(workdir, 'class_names.json')) as f:
    names = json.load(f)
  from vit_jax.inference import predict_files
  results, printed = quietly(predict_files.predict_files, config, workdir)
  assert [os.path.basename(r['path']) for r in results] == [
      f'digit_{i}.png' for i in range(6)]
  lines = printed.strip().splitlines()
  assert lines[0].startswith('predict: 6 image(s), weights from checkpoint 30')
  for result, line in zip(results, lines[1:]):
    top = result['top']
    assert len(top) == 5 and all(name in names for name, _ in top)
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert line == f'{result["path"]}: ' + '  '.join(
        f'{n} {p:.4f}' for n, p in top)


def test_predict_preprocesses_as_the_eval_pipeline(run_dir, pngs, data_dir):
  """A PNG of a test image predicts what that test example's logits say."""
  workdir, _ = run_dir
  folder, _ = pngs
  config = small_config(data_dir)
  from vit_jax.inference import image_files
  from_files = image_files.eval_inputs(
      config, [os.path.join(folder, f'digit_{i}.png') for i in range(6)], 1)
  batch = next(input_pipeline.eval_batches(config))
  np.testing.assert_array_equal(from_files, batch['image'][:6])
  assert from_files.dtype == np.float32
  # Another size is resized as the sources resize (bilinear, PIL).
  big = os.path.join(folder, '..', 'big.png')
  Image.open(os.path.join(folder, 'digit_0.png')).resize((24, 24)).save(big)
  assert image_files.eval_inputs(config, [big], 1).shape == (1, 8, 8, 1)


def test_predict_bad_inputs_are_one_line(run_dir, pngs, data_dir, tmp_path):
  workdir, _ = run_dir
  from vit_jax.inference import predict_files
  colour = tmp_path / 'colour.png'
  Image.fromarray(np.full((8, 8, 3), [255, 0, 0], np.uint8)).save(colour)
  text = tmp_path / 'notes.png'
  text.write_text('not an image')
  cases = [(str(tmp_path / 'missing.png'), 'no such file or folder'),
           (str(text), f'cannot read image {text}: UnidentifiedImageError'),
           (str(colour), f'image {colour} has colour channels (mode RGB) but '
                         'the model takes 1 channel'),
           (str(tmp_path / 'none_*.png'), 'no file matches')]
  for spec, message in cases:
    config = with_mode(small_config(data_dir), mode='predict',
                       predict_inputs=spec)
    with pytest.raises(ConfigError) as e:
      predict_files.predict_files(config, workdir)
    assert message in str(e.value) and '\n' not in str(e.value)


def test_predict_through_launch(run_dir, pngs, data_dir, tmp_path):
  """The command line: predict's lines; a bad input is one error line."""
  workdir, _ = run_dir
  folder, _ = pngs
  config_file = tmp_path / 'saved_config.py'
  config_file.write_text(
      'from configs import default\n'
      'def get_config():\n'
      '  config = default.get_config("full")\n'
      f'  config.update_from_flattened_dict({SMALL!r})\n'
      f'  config.data_dir = {data_dir!r}\n'
      '  return config\n')
  base = [sys.executable, 'launch.py', f'--config={config_file}',
          f'--workdir={workdir}']
  proc = subprocess.run(
      base + ['--config.mode=predict',
                      f'--config.predict_inputs={folder}/digit_0.png'],
      capture_output=True, text=True, cwd=ROOT, timeout=180)
  assert proc.returncode == 0, proc.stderr
  line = proc.stdout.strip().splitlines()[-1]
  assert line.startswith(f'{folder}/digit_0.png: ') and line.count('  ') == 4
  proc = subprocess.run(
      base + ['--config.mode=predict',
                      f'--config.predict_inputs={tmp_path}/gone.png'],
      capture_output=True, text=True, cwd=ROOT, timeout=180)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      f"error: config.predict_inputs='{tmp_path}/gone.png': no such file or "
      'folder']


def snapshot(path):
  files = {}
  for root, _, names in os.walk(path):
    for name in names:
      full = os.path.join(root, name)
      with open(full, 'rb') as f:
        files[os.path.relpath(full, path)] = f.read()
  return files


def test_eval_appends_metrics_and_leaves_checkpoints(run_dir, data_dir):
  workdir, final = run_dir
  before = snapshot(os.path.join(workdir, 'checkpoints'))
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows_before = f.read()
  row, printed = quietly(experiment.run, with_mode(
      small_config(data_dir), mode='eval'), workdir)
  # Same weights, same split as the run's own last evaluation.
  assert row['eval_test_accuracy'] == final['test/accuracy']
  assert row['eval_test_loss'] == pytest.approx(final['test/loss'], rel=1e-6)
  assert 'eval: test split (360 examples), weights from checkpoint 30' in printed
  row, _ = quietly(experiment.run, with_mode(
      small_config(data_dir), mode='eval', eval_split='train'), workdir)
  assert row['eval_train_count'] == 1437
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    text = f.read()
  assert text.startswith(rows_before)
  added = [json.loads(l) for l in text[len(rows_before):].splitlines()]
  assert [r['step'] for r in added] == [30, 30]
  assert 'eval_test/accuracy' in added[0] and 'eval_train/loss' in added[1]
  assert snapshot(os.path.join(workdir, 'checkpoints')) == before


def test_eval_of_init_from_in_a_new_workdir(run_dir, data_dir, tmp_path):
  workdir, final = run_dir
  new = str(tmp_path / 'new')
  row, _ = quietly(experiment.run, with_mode(
      small_config(data_dir), mode='eval', init_from=workdir), new)
  assert row['eval_test_accuracy'] == final['test/accuracy']
  with open(os.path.join(new, 'config.json')) as f:
    assert json.load(f)['mode'] == 'train'
  with pytest.raises(ConfigError, match='nothing to evaluate'):
    experiment.run(with_mode(small_config(data_dir), mode='eval'),
                   str(tmp_path / 'empty'))
