"""Classification: inputs -> logits over `num_classes`, cross-entropy loss.

Batches: `image` float32 [b, H, W, C], `label` int32 [b]; with mixup
(vit_jax/data mixup, `input.mixup_alpha` > 0) also `label_mix` int32 [b] and
`mix_weight` float32 [b], the weight of `label`. Config fields read:
`num_classes`, `label_smoothing`.
"""

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vit_jax.tasks import registry
from vit_jax.tasks.task import Batch, Task


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  label_smoothing: float = 0.0) -> jax.Array:
  """Per-example loss; logits [batch, classes], labels int [batch]."""
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def batch_cross_entropy(logits: jax.Array, batch: Batch,
                        label_smoothing: float = 0.0) -> jax.Array:
  """Per-example loss [batch] of a train batch.

  With mixup: w * CE(label) + (1 - w) * CE(label_mix), i.e. CE against the
  mixed target.
  """
  loss = cross_entropy(logits, batch['label'], label_smoothing)
  if 'label_mix' in batch:
    w = batch['mix_weight']
    loss = w * loss + (1 - w) * cross_entropy(logits, batch['label_mix'],
                                              label_smoothing)
  return loss


@registry.register('classification')
class Classification(Task):
  """Image classification (any model mapping images to logits)."""
  unit = 'images'
  rng_streams = ('dropout',)
  metric_names = ('accuracy', 'loss')

  def check(self, info) -> None:
    if info.num_classes != self.config.num_classes:
      raise ValueError(
          f'num_classes={self.config.num_classes} but dataset '
          f'{self.config.dataset!r} has {info.num_classes} classes')

  def model_kwargs(self, info) -> dict[str, Any]:
    del info  # check() made sure the dataset agrees with the config.
    return {'num_classes': self.config.num_classes}

  def init_inputs(self, info) -> tuple[jax.ShapeDtypeStruct, ...]:
    return (jax.ShapeDtypeStruct((1,) + tuple(info.image_shape),
                                 jnp.float32),)

  def model_inputs(self, batch: Batch) -> tuple[Any, ...]:
    return (batch['image'],)

  def random_batch(self, info, batch_size: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape = (batch_size,) + tuple(info.image_shape)
    return {'image': rng.normal(size=shape).astype(np.float32),
            'label': rng.integers(0, self.config.num_classes,
                                  batch_size).astype(np.int32)}

  def loss_and_metrics(self, model, params, batch, rngs):
    logits = model.apply({'params': params}, batch['image'], train=True,
                         rngs=rngs)
    loss = batch_cross_entropy(logits, batch,
                               self.config.label_smoothing).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch['label'])
    return loss, {'accuracy': accuracy}

  def eval_sums(self, model, params, batch):
    logits = model.apply({'params': params}, batch['image'], train=False)
    mask = batch['mask']
    correct = jnp.argmax(logits, -1) == batch['label']
    return {
        'loss_sum': jnp.sum(cross_entropy(logits, batch['label']) * mask),
        'correct_sum': jnp.sum(correct * mask),
        'count': jnp.sum(mask),
    }

  def eval_metrics(self, sums: Mapping[str, float]) -> dict[str, float]:
    count = float(sums['count'])
    return {'loss': float(sums['loss_sum']) / count,
            'accuracy': float(sums['correct_sum']) / count,
            'count': count}

  def describe(self, batch: Batch, outputs: np.ndarray) -> str:
    del batch
    return (f'logits {list(outputs.shape)}; top classes '
            f'{np.argmax(outputs, -1).tolist()}')
