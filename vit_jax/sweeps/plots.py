"""PNG plots of sweep results: time, memory, utilisation, accuracy vs tokens."""

import collections
import os
from typing import Any, Callable

import matplotlib

matplotlib.use('Agg')  # Files only; no display needed.
import matplotlib.pyplot as plt  # noqa: E402

from vit_jax.sweeps import point  # noqa: E402

Row = dict[str, Any]


def _series(rows: list[Row], value: Callable[[Row], Any], **match):
  """{attention label: ([tokens], [values])} over ok rows matching `match`."""
  series = collections.defaultdict(lambda: ([], []))
  for r in sorted(rows, key=lambda r: r.get('tokens') or 0):
    if r.get('status') != 'ok' or any(r.get(k) != v for k, v in match.items()):
      continue
    if not r.get('tokens'):  # A model without a sequence: no x value.
      continue
    y = value(r)
    if y is not None:
      series[r['attention']][0].append(r['tokens'])
      series[r['attention']][1].append(y)
  return dict(series)


def _reference_slopes(ax, series) -> None:
  """Dotted n and n² lines through the smallest point of the first series."""
  xs, ys = next(iter(series.values()))
  x0, y0 = xs[0], ys[0]
  x_max = max(max(x) for x, _ in series.values())
  for power, style in ((1, ':'), (2, '--')):
    ax.plot([x0, x_max], [y0, y0 * (x_max / x0)**power], style, color='gray',
            label=f'∝ n{"²" if power == 2 else ""}')


def _plot(series, path: str, *, title: str, ylabel: str, loglog: bool,
          reference: bool) -> str:
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for label, (xs, ys) in sorted(series.items()):
    ax.plot(xs, ys, 'o-', label=label)
  if reference:
    _reference_slopes(ax, series)
  if loglog:
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
  else:
    ax.set_xscale('log', base=2)
  ax.set_xlabel('sequence length n (tokens)')
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_all(rows: list[Row], sweep_dir: str) -> list[str]:
  """Writes every plot the rows allow; returns the paths written."""
  written = []
  for kind in ('train', 'forward'):
    timing = _series(rows, lambda r: r.get('step_s_median'),
                     mode='benchmark', kind=kind)
    if not timing:
      continue
    written.append(_plot(
        timing, os.path.join(sweep_dir, f'{kind}_step_time.png'),
        title=f'{kind} step time (median)', ylabel='seconds per step',
        loglog=True, reference=True))
    memory = _series(rows, lambda r: r.get('xla_memory_bytes', 0) / 2**30,
                     mode='benchmark', kind=kind)
    written.append(_plot(
        memory, os.path.join(sweep_dir, f'{kind}_memory.png'),
        title=f'{kind} memory (XLA plan: args + outputs + temporaries)',
        ylabel='GiB', loglog=True, reference=True))
    step_rss = _series(rows, lambda r: (r.get('step_rss_bytes') or 0) / 2**30,
                       mode='benchmark', kind=kind)
    written.append(_plot(
        step_rss, os.path.join(sweep_dir, f'{kind}_step_rss.png'),
        title=f'{kind} memory (measured: RSS growth while the steps run)',
        ylabel='GiB', loglog=True, reference=True))
    rss = _series(rows, lambda r: r.get('peak_rss_bytes', 0) / 2**30,
                  mode='benchmark', kind=kind)
    written.append(_plot(
        rss, os.path.join(sweep_dir, f'{kind}_peak_rss.png'),
        title=f'{kind} peak RSS of the process', ylabel='GiB', loglog=True,
        reference=False))
    util = _series(rows, lambda r: r.get('utilization'), mode='benchmark',
                   kind=kind)
    written.append(_plot(
        util, os.path.join(sweep_dir, f'{kind}_utilization.png'),
        title=f'{kind}: achieved FLOP/s / dense f32 matmul FLOP/s',
        ylabel='fraction of matmul peak', loglog=False, reference=False))
  trained = [r for r in rows if r.get('mode') == 'train']
  for dataset, metric in sorted({(r.get('dataset'), point.summary_of(r)[0])
                                 for r in trained if point.summary_of(r)[0]}):
    # Each config names its summary metric (config.summary_metric).
    values = _series(rows, lambda r, m=metric: point.summary_of(r)[1]
                     if point.summary_of(r)[0] == m else None,
                     mode='train', dataset=dataset)
    if values:
      name = metric.replace('/', '_')
      written.append(_plot(
          values, os.path.join(
              sweep_dir, f'{name}_{dataset.replace("/", "")}.png'),
          title=f'{dataset}: {metric} vs sequence length',
          ylabel=metric, loglog=False, reference=False))
  return written
