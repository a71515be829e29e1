"""Gradient accumulation (config.grad_accum_steps): the step equals the
full-batch step, and its compiled program all-reduces the gradient once,
after the micro-batch loop, not once per micro-batch."""

import re

import jax
import numpy as np
import optax
import pytest

from test_training import data_dir  # noqa: F401 (fixture)
from test_training import first_batches
from test_training import tiny_config
from vit_jax import errors
from vit_jax.training import mesh as mesh_lib
from vit_jax.training import steps
from vit_jax.training import train_state
from vit_jax.training import trainer


def _setup(data_dir, tmp_path, accum_steps):  # noqa: F811
  # No dropout: micro-batches draw other masks than the whole batch would.
  config = tiny_config(data_dir, batch_size=32,
                       model__transformer__dropout_rate=0.0,
                       grad_accum_steps=accum_steps)
  run = trainer.prepare_run(config, str(tmp_path / f'k{accum_steps}'))
  step = steps.make_train_step(run.model, run.task, run.tx, run.schedule,
                               seed=config.seed, mesh=run.mesh,
                               accum_steps=accum_steps)
  state = train_state.create_train_state(
      run.model, run.tx, run.task.init_inputs(run.info), config.seed,
      run.mesh)
  return config, run, step, state


def _while_bodies_with_all_reduce(hlo: str) -> list[str]:
  """Names of while-loop bodies (and what they call) that all-reduce."""
  computations = {m.group(1): m.group(0) for m in re.finditer(
      r'^(?:ENTRY )?%?([\w.\-]+) .*?\n}', hlo, re.S | re.M)}
  bodies = re.findall(r'body=%?([\w.\-]+)', hlo)
  return [b for b in bodies if 'all-reduce(' in computations.get(b, '')]


def test_accumulated_step_equals_full_batch_step(data_dir, tmp_path):  # noqa: F811
  results = {}
  for k in (1, 4):
    config, run, step, state = _setup(data_dir, tmp_path, k)
    for batch in first_batches(config, n=2):
      state, metrics = step(state, mesh_lib.shard_batch(batch, run.mesh))
    results[k] = jax.device_get((state, metrics))
  (state_1, metrics_1), (state_4, metrics_4) = results[1], results[4]
  assert int(state_4.step) == 2
  lr = 1e-2  # tiny_config's lr.base: Adam moves parameters by ~lr.
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(state_1.params),
                          jax.tree.leaves(state_4.params)):
    name = jax.tree_util.keystr(path)
    noise_only = "['key']['bias']" in name  # Zero gradient up to rounding.
    np.testing.assert_allclose(a, b, rtol=1e-5,
                               atol=2 * lr if noise_only else lr / 100,
                               err_msg=name)
  for key in ('train/loss', 'train/accuracy', 'train/grad_norm'):
    np.testing.assert_allclose(metrics_1[key], metrics_4[key], rtol=1e-5,
                               err_msg=key)


def test_accumulated_step_all_reduces_after_the_loop(data_dir, tmp_path):  # noqa: F811
  config, run, step, state = _setup(data_dir, tmp_path, 4)
  batch = mesh_lib.shard_batch(first_batches(config, n=1)[0], run.mesh)
  hlo = step.lower(state, batch).compile().as_text()
  assert 'while' in hlo and 'all-reduce' in hlo
  assert _while_bodies_with_all_reduce(hlo) == []
  # The check sees an all-reduce in a loop: optax's microbatching under
  # plain jit (no per-device partial sums) puts one there.
  mesh = run.mesh
  w = jax.numpy.ones((8, 8))
  x = jax.device_put(np.ones((32, 8), np.float32),
                     mesh_lib.batch_sharded(mesh))
  naive = jax.jit(
      lambda w, x: optax.microbatching.microbatch(
          lambda x: jax.grad(lambda w: jax.numpy.mean((x @ w)**2))(w),
          argnums=0, microbatch_size=8,
          accumulator=optax.microbatching.AccumulationType.MEAN)(x),
      in_shardings=(mesh_lib.replicated(mesh), mesh_lib.batch_sharded(mesh)),
      out_shardings=mesh_lib.replicated(mesh))
  assert _while_bodies_with_all_reduce(
      naive.lower(w, x).compile().as_text())


def test_batch_must_split_into_whole_micro_batches(data_dir, tmp_path):  # noqa: F811
  config = tiny_config(data_dir, batch_size=16, grad_accum_steps=4)
  with pytest.raises(errors.ConfigError, match='grad_accum_steps'):
    trainer.prepare_run(config, str(tmp_path))  # 8 devices x 4 > 16.
