"""Optimizer and learning-rate schedule from `config.optimizer` / `config.lr`."""

import jax
import optax

from vit_jax.models import layer_layout


def learning_rate_schedule(lr_config, total_steps: int) -> optax.Schedule:
  """Linear warmup from 0 to `base`, then `decay` ('cosine' or 'constant')."""
  base, warmup = lr_config.base, lr_config.warmup_steps
  if lr_config.decay == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=base, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1),
        end_value=base * lr_config.end_factor)
  if lr_config.decay == 'constant':
    return optax.join_schedules(
        [optax.linear_schedule(0.0, base, warmup), optax.constant_schedule(base)],
        [warmup])
  raise ValueError(f'unknown lr.decay {lr_config.decay!r}; known: cosine, '
                   'constant')


def _decay_mask(params):
  """True for matrices: no weight decay on biases, norms or scales.

  A scanned encoder's arrays carry a leading layer axis that does not count
  (a stacked LayerNorm scale [layers, dim] is still a vector).
  """
  def is_matrix(path, p):
    stacked = any(getattr(k, 'key', None) == layer_layout.SCAN_KEY
                  for k in path)
    return p.ndim - int(stacked) > 1
  return jax.tree_util.tree_map_with_path(is_matrix, params)


def make_optimizer(config, schedule: optax.Schedule) -> optax.GradientTransformation:
  """Gradient clipping followed by AdamW or SGD with momentum."""
  opt = config.optimizer
  if opt.name == 'adamw':
    # mu_dtype 'bfloat16' halves the first moment's memory; the second
    # moment (squared gradients, small values) stays in the params' f32.
    update = optax.adamw(schedule, b1=opt.b1, b2=opt.b2,
                         weight_decay=opt.weight_decay, mask=_decay_mask,
                         mu_dtype=opt.mu_dtype)
  elif opt.name == 'sgd':
    update = optax.chain(
        optax.add_decayed_weights(opt.weight_decay, mask=_decay_mask),
        optax.sgd(schedule, momentum=opt.momentum))
  else:
    raise ValueError(f'unknown optimizer.name {opt.name!r}; known: adamw, sgd')
  if config.grad_clip_norm:
    return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), update)
  return update
