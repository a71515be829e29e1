"""The glimpse sensor ("retina") of Mnih et al. 2014: a foveated look.

At location l in [-1, 1]² ((-1, -1) the top-left corner, (1, 1) the
bottom-right; l = (row, column)) it takes `num_scales` square patches centred
there, the first `size` x `size` pixels, each next twice as wide, and
average-pools each down to `size` x `size`: a sharp centre and a blurred
surround. Pixels outside the image read as zero (the background after
value_range (0, 1)).

Under jit: one `lax.dynamic_slice` per scale from the image padded once by
half the widest patch, vmapped over the batch.
"""

import jax
import jax.numpy as jnp


def patch_sides(size: int, num_scales: int) -> list[int]:
  """Sides of the patches before pooling: size, 2 size, 4 size, ..."""
  return [size * 2**i for i in range(num_scales)]


def centre_pixel(location: jax.Array, image_shape) -> jax.Array:
  """Location in [-1, 1]² -> the (row, col) pixel it points at, int32 [2]."""
  extent = jnp.asarray(image_shape[:2], jnp.float32)
  return jnp.round((location + 1) / 2 * extent).astype(jnp.int32)


def _one_image(image: jax.Array, location: jax.Array, size: int,
               num_scales: int) -> jax.Array:
  """image [H, W, C], location [2] -> patches [num_scales, size, size, C]."""
  sides = patch_sides(size, num_scales)
  pad = sides[-1] // 2
  padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  centre = centre_pixel(location, image.shape) + pad
  patches = []
  for i, side in enumerate(sides):
    corner = centre - side // 2
    # dynamic_slice clamps the corner into range; the padding makes that a
    # no-op for any location in [-1, 1]².
    patch = jax.lax.dynamic_slice(
        padded, (corner[0], corner[1], 0), (side, side, image.shape[2]))
    factor = 2**i
    patch = patch.reshape(size, factor, size, factor, -1).mean(axis=(1, 3))
    patches.append(patch)
  return jnp.stack(patches)


def glimpse(images: jax.Array, locations: jax.Array, *, size: int,
            num_scales: int) -> jax.Array:
  """The retina's patches at one location per image.

  Args:
    images: [batch, H, W, C].
    locations: [batch, 2] in [-1, 1] (clipped to it).
    size: side g of every returned patch.
    num_scales: patches per glimpse; the widest covers g * 2**(k-1) pixels.

  Returns:
    [batch, num_scales, size, size, C].
  """
  assert images.ndim == 4 and locations.shape == (images.shape[0], 2), (
      images.shape, locations.shape)
  locations = jnp.clip(locations, -1.0, 1.0)
  return jax.vmap(lambda x, l: _one_image(x, l, size, num_scales))(
      images, locations)
