"""Mixup (Zhang et al., 2018) of a train batch, seeded per example.

Row i of the batch becomes `w * x_i + (1 - w) * x_j` with its partner
j = i XOR 1 (rows pair up as (0, 1), (2, 3), ...) and w ~ Beta(alpha, alpha)
drawn from row i's seed. Partners are neighbours rather than a shuffle of the
batch so that, as long as each process's part of the global batch has an even
size, every pair lies in one process and a process's rows are the same as in
a single-process run. With an odd local batch the last row has no partner and
is left unmixed (its partner is itself).

The labels stay integers: the loss is `w * CE(label) + (1 - w) *
CE(label_mix)` (vit_jax/training/steps.py), which equals cross-entropy
against the mixed one-hot target.
"""

import numpy as np

_SALT = 0x313C0F


def mixup(images: np.ndarray, labels: np.ndarray, seeds: np.ndarray, *,
          alpha: float) -> dict[str, np.ndarray]:
  """Mixes each image with its partner row.

  Args:
    images: float32 [b, H, W, C].
    labels: int32 [b].
    seeds: uint64 [b], the examples' seeds.
    alpha: the Beta distribution's parameter (> 0).

  Returns:
    {'image': float32 [b, H, W, C] mixed, 'label_mix': int32 [b] the
    partners' labels, 'mix_weight': float32 [b] the weight w of `label`}.
  """
  if alpha <= 0:
    raise ValueError(f'mixup alpha must be > 0, got {alpha}')
  b = len(images)
  partner = np.arange(b) ^ 1  # [b]
  partner[partner >= b] = b - 1  # Odd b: the last row pairs with itself.
  # One generator per example keeps w a function of that example's seed only.
  weight = np.array([np.random.default_rng([int(s), _SALT]).beta(alpha, alpha)
                     for s in seeds], np.float32)  # [b]
  w = weight[:, None, None, None]
  mixed = w * images + (1 - w) * images[partner]
  return {'image': mixed.astype(np.float32),
          'label_mix': labels[partner].astype(np.int32),
          'mix_weight': weight}
