"""Classification by a glimpse model trained with the hybrid loss of Mnih et
al. 2014 (section 3.2): supervised where it can be, REINFORCE where it must.

The model (vit_jax/models/ram.py) returns `logits`, `log_probs` [b, T-1] of
its sampled next locations and `baselines` [b, T-1]. With reward
R = 1 if argmax(logits) is the label else 0:

  cross_entropy  CE(logits, label): trains classifier, core and glimpse nets;
  reinforce      -mean_b Σ_t log π(l_{t+1}) · sg(R - b_t): trains only the
                 location network (the model stops every other path);
  baseline_mse   mean (b_t - sg(R))²: trains only the baseline network;

loss = cross_entropy + reinforce_weight * reinforce + baseline_mse
(sg: stop_gradient). The sampled locations come from the 'glimpse' rng
stream. Evaluation follows the location means. Batches as classification;
config fields read: `num_classes`, `ram_loss.reinforce_weight`.
"""

from typing import Mapping

import jax
import jax.numpy as jnp

from vit_jax import config_rules
from vit_jax.models import ram
from vit_jax.tasks import classification
from vit_jax.tasks import registry


@registry.register('ram_classification')
class RamClassification(classification.Classification):
  """Image classification by a model that returns `ram`'s output dict."""
  rng_streams = (ram.RNG_STREAM,)
  metric_names = ('accuracy', 'loss')
  CONFIG_RULES = {'ram_loss.reinforce_weight': config_rules.number(low=0)}

  def check(self, info) -> None:
    super().check(info)
    if 'reinforce_weight' not in self.config.get('ram_loss', {}):
      raise ValueError('task ram_classification needs '
                       'config.ram_loss.reinforce_weight (see configs/ram.py)')
    config_rules.check(self.config, self.CONFIG_RULES)

  def loss_terms(self, model, params, batch, rngs) -> dict[str, jax.Array]:
    """The three scalar terms of the hybrid loss and the mean reward."""
    out = model.apply({'params': params}, batch['image'], train=True,
                      rngs=rngs)
    reward = (jnp.argmax(out['logits'], -1) == batch['label']).astype(
        jnp.float32)  # [b]
    advantage = jax.lax.stop_gradient(reward[:, None] - out['baselines'])
    return {
        'cross_entropy': classification.cross_entropy(
            out['logits'], batch['label']).mean(),
        'reinforce': -jnp.mean(jnp.sum(out['log_probs'] * advantage, -1)),
        'baseline_mse': jnp.mean(
            (out['baselines'] - jax.lax.stop_gradient(reward[:, None]))**2),
        'reward': reward.mean(),
    }

  def loss_and_metrics(self, model, params, batch, rngs):
    terms = self.loss_terms(model, params, batch, rngs)
    weight = self.config.ram_loss.reinforce_weight
    loss = (terms['cross_entropy'] + weight * terms['reinforce']
            + terms['baseline_mse'])
    return loss, {'accuracy': terms['reward'], **terms}

  def predict(self, model, params, batch) -> jax.Array:
    return self.outputs(model, params, batch)['logits']

  def outputs(self, model, params, batch) -> Mapping[str, jax.Array]:
    """The model's whole output dict in evaluation (locations included)."""
    return model.apply({'params': params}, batch['image'], train=False)

  def eval_sums(self, model, params, batch):
    logits = self.predict(model, params, batch)
    mask = batch['mask']
    correct = jnp.argmax(logits, -1) == batch['label']
    return {
        'loss_sum': jnp.sum(classification.cross_entropy(
            logits, batch['label']) * mask),
        'correct_sum': jnp.sum(correct * mask),
        'count': jnp.sum(mask),
    }
