"""A multi-layer perceptron on the flattened image: the MLP baseline of the
RAM study (Mnih et al. 2014 compare against fully connected nets)."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.models import convnet
from vit_jax.models import registry


@registry.register('mlp')
class Mlp(nn.Module):
  """Images [batch, H, W, C] -> logits [batch, num_classes].

  Attributes:
    num_classes: outputs.
    hidden_sizes: widths of the ReLU layers.
  """
  DEFAULT_TASK = 'classification'
  CONFIG_RULES = {
      'hidden_sizes': convnet.positive_ints,
  }

  num_classes: int
  hidden_sizes: tuple[int, ...] = (256, 256)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    del train
    x = images.reshape(images.shape[0], -1).astype(self.dtype)
    for i, width in enumerate(self.hidden_sizes):
      x = nn.relu(nn.Dense(width, dtype=self.dtype, name=f'hidden_{i}')(x))
    return nn.Dense(self.num_classes, name='head')(x).astype(jnp.float32)
