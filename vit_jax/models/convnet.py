"""A small convolutional classifier: the conv baseline of the RAM study.

Like Mnih et al.'s convolutional baseline (a 10x10 stride-5 layer) made
cheap on a CPU: the first conv layer is strided, the next ones are not; ReLU
after each; then global max pooling over the positions (a digit anywhere on
the canvas looks the same), one hidden ReLU layer and the logits.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax import config_rules
from vit_jax.models import registry


def positive_ints(value) -> str | None:
  """Config rule: a non-empty tuple of positive integers (layer widths)."""
  if (not isinstance(value, (list, tuple)) or not value
      or not all(isinstance(v, int) and v > 0 for v in value)):
    return 'must be a non-empty tuple of positive integers'
  return None


@registry.register('convnet')
class ConvNet(nn.Module):
  """Images [batch, H, W, C] -> logits [batch, num_classes].

  Attributes:
    num_classes: outputs.
    features: channels of each conv layer.
    first_kernel, first_stride: the first layer's kernel side and stride.
    kernel_size: kernel side of the other layers (stride 1).
    hidden_size: width of the dense layer before the logits.
  """
  DEFAULT_TASK = 'classification'
  CONFIG_RULES = {
      'features': positive_ints,
      'first_kernel': config_rules.integer(low=1),
      'first_stride': config_rules.integer(low=1),
      'kernel_size': config_rules.integer(low=1),
      'hidden_size': config_rules.integer(low=1),
  }

  num_classes: int
  features: tuple[int, ...] = (16, 32)
  first_kernel: int = 10
  first_stride: int = 5
  kernel_size: int = 3
  hidden_size: int = 128
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> jax.Array:
    del train  # No dropout or batch statistics.
    x = images.astype(self.dtype)
    for i, width in enumerate(self.features):
      first = i == 0
      kernel = self.first_kernel if first else self.kernel_size
      x = nn.relu(nn.Conv(width, (kernel, kernel),
                          strides=self.first_stride if first else 1,
                          dtype=self.dtype, name=f'conv_{i}')(x))
    x = x.max(axis=(1, 2))  # [b, features[-1]]
    x = nn.relu(nn.Dense(self.hidden_size, dtype=self.dtype,
                         name='hidden')(x))
    return nn.Dense(self.num_classes, name='head')(x).astype(jnp.float32)
