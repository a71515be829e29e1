r"""Plots a length-generalisation sweep: a metric per test length, a line per point.

Reads the rows of configs/sweep_length_generalisation.py's sweep folder
(results.jsonl: each point's final `length_A_B_<metric>` figures) and writes
<metric>_vs_length.png there for exact_match and greedy_token_accuracy, x =
the buckets' mean length, with the longest training length marked.

  python experiments/length_generalisation.py --sweep_dir=runs/sweep_length
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from vit_jax import cli  # noqa: E402
from vit_jax.errors import ConfigError  # noqa: E402

_SWEEP_DIR = flags.DEFINE_string('sweep_dir', None, 'the sweep\'s --workdir')
_TRAIN_MAX = flags.DEFINE_integer('train_max_length', 25,
                                  'the longest training sequence (marked)')
METRICS = ('exact_match', 'greedy_token_accuracy')
_BUCKET = re.compile(r'^length_(\d+)_(\d+)_(.+)$')


def curves(rows: list[dict], metric: str
           ) -> dict[str, tuple[list[float], list[float]]]:
  """{point name: (bucket mean lengths, metric values)} of the ok rows."""
  result = {}
  for row in rows:
    if row.get('status') != 'ok':
      continue
    points = sorted(((int(m[1]) + int(m[2])) / 2, value)
                    for key, value in row.items()
                    if (m := _BUCKET.match(key)) and m[3] == metric)
    if points:
      result[row['name']] = ([x for x, _ in points], [y for _, y in points])
  return result


def plot(series, path: str, *, metric: str, train_max: int) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6.5, 4.2))
  for name, (xs, ys) in sorted(series.items()):
    ax.plot(xs, ys, 'o-', label=name)
  ax.axvline(train_max + 0.5, color='gray', linestyle=':',
             label=f'longest training length ({train_max})')
  ax.set_xlabel('test sequence length (bucket mean)')
  ax.set_ylabel(metric.replace('_', ' '))
  ax.set_ylim(-0.02, 1.02)
  ax.set_title(f'reversal: {metric.replace("_", " ")} vs length')
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  with cli.user_errors_exit():
    _plot_sweep(argv)


def _plot_sweep(argv):
  if len(argv) > 1:
    raise ConfigError(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _SWEEP_DIR.value:
    raise ConfigError('--sweep_dir is required')
  path = os.path.join(_SWEEP_DIR.value, 'results.jsonl')
  if not os.path.isfile(path):
    raise ConfigError(f'no sweep results in {_SWEEP_DIR.value} '
                      '(results.jsonl missing)')
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  for metric in METRICS:
    series = curves(rows, metric)
    if not series:
      raise ConfigError(f'no point in {path} has length_*_{metric} figures')
    out = os.path.join(_SWEEP_DIR.value, f'{metric}_vs_length.png')
    plot(series, out, metric=metric, train_max=_TRAIN_MAX.value)
    for name, (xs, ys) in sorted(series.items()):
      print(f'{metric} {name}: ' + ' '.join(
          f'{x:g}:{y:.3f}' for x, y in zip(xs, ys)))
    print(f'wrote {out}')


if __name__ == '__main__':
  app.run(main)
