"""Recurrent Attention Model (Mnih et al. 2014, "Recurrent Models of Visual
Attention"): a classifier that sees an image only through a few glimpses.

Per glimpse t = 1..T, at location l_t (l_1 the centre):
  glimpse network  g_t = ReLU(W₁ h_g + W₂ h_l), h_g = ReLU(Linear(retina
                   patches at l_t)), h_l = ReLU(Linear(l_t));
  core network     h_t = ReLU RNN (Mnih: 256 units) or LSTM of (h_{t-1}, g_t);
  location network μ_t = tanh(Linear(h_t)); l_{t+1} ~ N(μ_t, σ²) in training
                   (fixed σ), μ_t in evaluation;
  baseline network b_t = Linear(h_t), the expected reward from h_t;
classifier on h_T. The T steps are one `nn.scan` of `GlimpseStep`.

Gradient paths (the task's hybrid loss, vit_jax/tasks/ram_classification.py):
the locator and the baseline read stop_gradient(h_t), so REINFORCE and the
baseline's regression reach only their own layers; the sampled location
enters the next glimpse as stop_gradient(l_{t+1}), so cross-entropy never
reaches the locator.

`locations='random'`: every l_t uniform in [-1, 1]² (the paper's
random-glimpse baseline); in evaluation drawn from the 'glimpse' rng if given,
else from a fixed key (the same locations for every batch).
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax import config_rules
from vit_jax.models import glimpse
from vit_jax.models import registry

CORES = ('rnn', 'lstm')
LOCATIONS = ('learned', 'random')
RNG_STREAM = 'glimpse'  # The named rng of the sampled locations.


class GlimpseNetwork(nn.Module):
  """Retina patches at a location, and the location -> g [batch, features]."""
  size: int
  num_scales: int
  patch_features: int
  location_features: int
  features: int

  @nn.compact
  def __call__(self, images: jax.Array, location: jax.Array) -> jax.Array:
    patches = glimpse.glimpse(images, location, size=self.size,
                              num_scales=self.num_scales)
    patches = patches.reshape(patches.shape[0], -1)  # [b, k * g * g * C]
    h_g = nn.relu(nn.Dense(self.patch_features, name='patches')(patches))
    h_l = nn.relu(nn.Dense(self.location_features, name='where')(location))
    return nn.relu(nn.Dense(self.features, name='what_out')(h_g)
                   + nn.Dense(self.features, name='where_out')(h_l))


class GlimpseStep(nn.Module):
  """One glimpse: look, update the core, choose the next location.

  Scanned over time: carry = (core carry, location [b, 2]); the per-step
  input `draw` [b, 2] is standard normal noise ('learned') or the location
  itself ('random').
  """
  size: int
  num_scales: int
  hidden_size: int
  glimpse_features: int
  core: str
  locations: str
  location_std: float
  train: bool

  @nn.compact
  def __call__(self, carry, draw: jax.Array, images: jax.Array):
    core_carry, location = carry
    if self.locations == 'random':
      location = draw
    g = GlimpseNetwork(self.size, self.num_scales,
                       patch_features=self.glimpse_features // 2,
                       location_features=self.glimpse_features // 2,
                       features=self.glimpse_features, name='glimpse')(
                           images, location)
    if self.core == 'rnn':
      cell = nn.SimpleCell(self.hidden_size, activation_fn=nn.relu,
                           name='core')
    else:
      cell = nn.OptimizedLSTMCell(self.hidden_size, name='core')
    core_carry, h = cell(core_carry, g)
    # REINFORCE and the baseline's regression must not train the core.
    state = jax.lax.stop_gradient(h)
    baseline = nn.Dense(1, name='baseline')(state)[:, 0]
    if self.locations == 'learned':
      mean = jnp.tanh(nn.Dense(2, name='locator')(state))
      if self.train:
        sample = jax.lax.stop_gradient(mean + self.location_std * draw)
      else:
        sample = jax.lax.stop_gradient(mean)
      log_prob = gaussian_log_prob(sample, mean, self.location_std)
      next_location = jnp.clip(sample, -1.0, 1.0)
    else:
      log_prob = jnp.zeros(location.shape[:1], jnp.float32)
      next_location = location  # Unused: the next draw replaces it.
    outputs = {'location': location, 'log_prob': log_prob,
               'baseline': baseline, 'hidden': h}
    return (core_carry, next_location), outputs


def gaussian_log_prob(x: jax.Array, mean: jax.Array, std: float) -> jax.Array:
  """log N(x; mean, std² I) summed over the last axis: [..., d] -> [...]."""
  d = x.shape[-1]
  return (-0.5 * jnp.sum(((x - mean) / std)**2, axis=-1)
          - d * (math.log(std) + 0.5 * math.log(2 * math.pi)))


@registry.register('ram')
class RecurrentAttentionModel(nn.Module):
  """Images [batch, H, W, C] -> dict of outputs (see `__call__`).

  Attributes:
    num_classes: classifier outputs.
    num_glimpses: T.
    glimpse_size: side g of each retina patch (pixels).
    num_scales: patches per glimpse, each twice as wide as the previous.
    hidden_size: core units (Mnih: 256).
    glimpse_features: width of g_t (h_g and h_l are half of it each).
    core: 'rnn' (ReLU RNN) or 'lstm'.
    locations: 'learned' or 'random' (the random-glimpse baseline).
    location_std: σ of the location policy, in [-1, 1] units.
  """
  DEFAULT_TASK = 'ram_classification'
  CONFIG_RULES = {
      'num_glimpses': config_rules.integer(low=1),
      'glimpse_size': config_rules.integer(low=1),
      'num_scales': config_rules.integer(low=1),
      'hidden_size': config_rules.integer(low=1),
      'glimpse_features': config_rules.integer(low=2),
      'core': config_rules.one_of(CORES),
      'locations': config_rules.one_of(LOCATIONS),
      'location_std': config_rules.number(low=0, low_open=True),
  }

  num_classes: int
  num_glimpses: int = 6
  glimpse_size: int = 12
  num_scales: int = 3
  hidden_size: int = 256
  glimpse_features: int = 256
  core: str = 'rnn'
  locations: str = 'learned'
  location_std: float = 0.2

  def _draws(self, batch: int, train: bool) -> jax.Array:
    """Per-step inputs of GlimpseStep: [T, batch, 2]."""
    shape = (self.num_glimpses, batch, 2)
    if self.locations == 'learned':
      if not train:
        return jnp.zeros(shape)  # Evaluation follows the means.
      return jax.random.normal(self.make_rng(RNG_STREAM), shape)
    key = (self.make_rng(RNG_STREAM) if self.has_rng(RNG_STREAM)
           else jax.random.key(0))
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool) -> dict[str, Any]:
    """Runs the T glimpses.

    Returns:
      logits: [batch, num_classes] from the last core state;
      locations: [batch, T, 2], where each glimpse looked;
      log_probs: [batch, T - 1], log π(l_{t+1} | μ_t) of the chosen next
        locations (zeros for 'random'); gradient reaches only the locator;
      baselines: [batch, T - 1], b_t for the same decisions; gradient
        reaches only the baseline network.
    """
    for field, choices in (('core', CORES), ('locations', LOCATIONS)):
      if getattr(self, field) not in choices:
        raise ValueError(f'unknown {field} {getattr(self, field)!r}; '
                         f'known: {", ".join(choices)}')
    batch = images.shape[0]
    images = images.astype(jnp.float32)
    zeros = jnp.zeros((batch, self.hidden_size), jnp.float32)
    core_carry = zeros if self.core == 'rnn' else (zeros, zeros)
    scan = nn.scan(GlimpseStep, variable_broadcast='params',
                   split_rngs={'params': False}, in_axes=(0, nn.broadcast),
                   out_axes=0, length=self.num_glimpses)
    step = scan(self.glimpse_size, self.num_scales, self.hidden_size,
                self.glimpse_features, self.core, self.locations,
                self.location_std, train, name='step')
    start = jnp.zeros((batch, 2), jnp.float32)  # l_1: the centre.
    _, out = step((core_carry, start), self._draws(batch, train), images)
    logits = nn.Dense(self.num_classes, name='classifier')(out['hidden'][-1])
    # Time-major [T, b, ...] -> [b, T, ...]; the last step's decision is
    # never used, so it carries no reward.
    return {
        'logits': logits.astype(jnp.float32),
        'locations': jnp.swapaxes(out['location'], 0, 1),
        'log_probs': jnp.swapaxes(out['log_prob'][:-1], 0, 1),
        'baselines': jnp.swapaxes(out['baseline'][:-1], 0, 1),
    }
