"""Patch and position embeddings of the Vision Transformer."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class PatchEmbedding(nn.Module):
  """Cuts images into non-overlapping patches and maps each to `hidden_size`.

  Same parameters as a strided `nn.Conv` (kernel [p, p, channels, hidden]), so
  published ViT weights load, but computed as reshape + matmul: on XLA:CPU the
  strided convolution's backward pass was measured markedly slower.

  Attributes:
    cpu_tuned: False computes the strided convolution itself, the form GPU
      and TPU compilers handle best (vit_jax/models/kernel_forms.py).
  """
  patch_size: int
  hidden_size: int
  dtype: Any = jnp.float32
  cpu_tuned: bool = True

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    """[batch, H, W, C] -> [batch, H/p, W/p, hidden]."""
    b, h, w, c = images.shape
    p = self.patch_size
    if h % p or w % p:
      raise ValueError(f'image size {h}x{w} is not divisible by patch size {p} '
                       '(model.patch_size)')
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (p, p, c, self.hidden_size))
    bias = self.param('bias', nn.initializers.zeros, (self.hidden_size,))
    if not self.cpu_tuned:
      x = jax.lax.conv_general_dilated(
          images.astype(self.dtype), kernel.astype(self.dtype), (p, p),
          'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
      return x + bias.astype(self.dtype)
    # One einsum over the image as [b, rows, p, cols, p * c] (pixel row within
    # the patch, then a contiguous p * c run): XLA:CPU picks its own operand
    # layout, faster (forward + kernel gradient, 2-core CPU; docs/results.md,
    # "Micro-benchmarks (removed)") than materialising the patches with an
    # explicit 6-D transpose first.
    patches = images.reshape(b, h // p, p, w // p, p * c)
    kernel = kernel.reshape(p, p * c, self.hidden_size)
    x = jnp.einsum('bipjq,pqd->bijd', patches.astype(self.dtype),
                   kernel.astype(self.dtype))
    return x + bias.astype(self.dtype)


class AddPositionEmbs(nn.Module):
  """Adds a learned position embedding [1, length, hidden] (VT's name)."""
  posemb_init: Any = nn.initializers.normal(stddev=0.02)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    assert x.ndim == 3, x.shape  # [batch, length, hidden]
    pe = self.param('pos_embedding', self.posemb_init, (1,) + x.shape[1:])
    return x + pe.astype(x.dtype)


def sincos_2d(grid_h: int, grid_w: int, hidden_size: int,
              temperature: float = 10_000.) -> np.ndarray:
  """Fixed 2-D sine-cosine position embedding, [grid_h * grid_w, hidden]."""
  if hidden_size % 4:
    raise ValueError(f'sincos2d needs hidden_size divisible by 4, got '
                     f'{hidden_size}')
  y, x = np.mgrid[:grid_h, :grid_w]
  omega = 1. / temperature**(np.arange(hidden_size // 4) / (hidden_size // 4))
  y = y.reshape(-1)[:, None] * omega[None]
  x = x.reshape(-1)[:, None] * omega[None]
  return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)],
                        axis=1).astype(np.float32)
