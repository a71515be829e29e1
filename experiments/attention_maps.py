r"""Attention rollout and last-layer cls attention of a trained ViT run.

  .venv/bin/python experiments/attention_maps.py --workdir=runs/digits_full \
      --out=docs/figures --count=6

Writes OUT/attention_maps_<attention>.png: one row per test image, the image,
its attention rollout (Abnar & Zuidema 2020) and the last layer's cls
attention over the patches, both overlaid
(vit_jax/visualization/attention_rollout, overlay). Works for every `full`
implementation and scanned encoders (weights recomputed with the einsum
formula); for Linformer the maps are a labelled heuristic. Loads the
workdir's latest checkpoint with the trainer's loader; writes nothing there.
A few seconds for the default digits run.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import numpy as np  # noqa: E402

from vit_jax import cli  # noqa: E402
from vit_jax.errors import ConfigError  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'a ViT run\'s workdir',
                               required=True)
_OUT = flags.DEFINE_string('out', 'docs/figures', 'folder for the PNG')
_COUNT = flags.DEFINE_integer('count', 6, 'test images to draw')


def main(argv):
  del argv
  cli.quiet_library_logs()
  with cli.user_errors_exit():
    from vit_jax.visualization import attention_rollout  # pylint: disable=g-import-not-at-top
    from vit_jax.visualization import overlay  # pylint: disable=g-import-not-at-top
    from vit_jax.visualization import trained_run  # pylint: disable=g-import-not-at-top
    if _COUNT.value < 1:
      raise ConfigError(f'--count={_COUNT.value}: must be >= 1')
    run = trained_run.load(_WORKDIR.value)
    if run.config.model.get('name', 'vit') != 'vit':
      raise ConfigError(f'{_WORKDIR.value} is a {run.config.model.name!r} '
                        'run; attention maps need a model.name=vit run')
    batch = trained_run.test_batch(run, _COUNT.value)
    weights = attention_rollout.attention_weights(run.model, run.params,
                                                  batch['image'])
    logits = np.asarray(run.task.predict(run.model, run.params, batch))
    titles = [f'label {l}, predicted {p}'
              for l, p in zip(batch['label'], logits.argmax(-1))]
    name = run.config.model.attention.name
    note = (f'{name} attention, step {run.step}; ')
    if weights.heuristic:
      note += ('HEURISTIC: Linformer weights composed with the value '
               'projection, |P Fᵀ| row-normalised')
    else:
      note += 'exact softmax(q kᵀ/√d), recomputed'
    maps = attention_rollout.image_maps(weights)
    os.makedirs(_OUT.value, exist_ok=True)
    path = os.path.join(_OUT.value, f'attention_maps_{name}.png')
    overlay.draw(batch['image'], {'rollout': maps['rollout'],
                                  'last-layer cls': maps['last_layer']},
                 path, titles=titles, note=note)
    print(f'wrote {path} (step {run.step}, {len(titles)} images, {note})')


if __name__ == '__main__':
  app.run(main)
