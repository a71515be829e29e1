r"""Draws the glimpse paths of a trained RAM run on its first test images.

  .venv/bin/python experiments/glimpse_paths.py --workdir=runs/ram_cluttered \
      --out=docs/figures --count=8

Writes OUT/glimpse_paths_<dataset>.png (dataset's '/' as '_'): each panel one
test image with its T glimpses in order (vit_jax/visualization/glimpse_paths),
the label and the prediction in the title. Loads the workdir's latest
checkpoint with the trainer's loader; writes nothing there. A few seconds.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
import numpy as np  # noqa: E402

from vit_jax import cli  # noqa: E402
from vit_jax.errors import ConfigError  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'a RAM run\'s workdir',
                               required=True)
_OUT = flags.DEFINE_string('out', 'docs/figures', 'folder for the PNG')
_COUNT = flags.DEFINE_integer('count', 8, 'test images to draw')


def main(argv):
  del argv
  cli.quiet_library_logs()
  with cli.user_errors_exit():
    from vit_jax.visualization import glimpse_paths  # pylint: disable=g-import-not-at-top
    from vit_jax.visualization import trained_run  # pylint: disable=g-import-not-at-top
    run = trained_run.load(_WORKDIR.value)
    if not hasattr(run.task, 'outputs') or run.config.model.name != 'ram':
      raise ConfigError(f'{_WORKDIR.value} is a {run.config.model.name!r} '
                        'run; glimpse paths need a model.name=ram run')
    if _COUNT.value < 1:
      raise ConfigError(f'--count={_COUNT.value}: must be >= 1')
    batch = trained_run.test_batch(run, _COUNT.value)
    outputs = run.task.outputs(run.model, run.params, batch)
    os.makedirs(_OUT.value, exist_ok=True)
    name = run.config.dataset.replace('/', '_')
    path = os.path.join(_OUT.value, f'glimpse_paths_{name}.png')
    glimpse_paths.draw(
        batch['image'], np.asarray(outputs['locations']), path,
        glimpse_size=run.model.glimpse_size, num_scales=run.model.num_scales,
        labels=batch['label'],
        predictions=np.argmax(np.asarray(outputs['logits']), -1))
    print(f'wrote {path} (step {run.step}, {len(batch["label"])} images)')


if __name__ == '__main__':
  app.run(main)
