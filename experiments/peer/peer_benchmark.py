r"""Times the PyTorch peer (lucidrains vit-pytorch `efficient.ViT` + Linformer).

The seed's cats-vs-dogs model: 224x224, patch 32, dim 128, depth 12, 8 heads,
Linformer k=64, 2 classes; Adam lr 3e-5, batch 64, float32, 2 threads.

  experiments/peer/.venv/bin/python experiments/peer/peer_benchmark.py

Runs in its own venv (see README.md); nothing in the project imports it.
Prints lines in the style of `python -m vit_jax.benchmarking` and, with --json,
one `RESULT {...}` line per kind.
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import time

import torch
import torch.nn.functional as F


def _load_efficient_vit():
  """vit_pytorch/efficient.py without the package __init__ (it needs torchvision)."""
  spec = importlib.util.find_spec('vit_pytorch')  # Finds, does not import.
  path = os.path.join(list(spec.submodule_search_locations)[0], 'efficient.py')
  module_spec = importlib.util.spec_from_file_location('vit_pytorch_efficient',
                                                       path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def build_model():
  from linformer import Linformer
  efficient = _load_efficient_vit()
  transformer = Linformer(dim=128, seq_len=50, depth=12, heads=8, k=64)
  return efficient.ViT(image_size=224, patch_size=32, num_classes=2, dim=128,
                       transformer=transformer)


def _time(fn, steps: int, warmup: int) -> list[float]:
  times = []
  for i in range(warmup + steps):
    start = time.perf_counter()
    fn()
    if i >= warmup:
      times.append(time.perf_counter() - start)
  return times


def _row(kind, times, batch, num_params, flops_per_step=None):
  median = statistics.median(times)
  return dict(kind=kind, batch=batch, tokens=50, num_params=num_params,
              step_s_median=median, step_s_min=min(times),
              step_s_max=max(times), images_per_s=batch / median,
              flops_per_step=flops_per_step,
              peak_rss_bytes=resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss * 1024)


def _flops(fn) -> float | None:
  """FLOPs of one call counted by torch's FlopCounterMode (matmuls only)."""
  try:
    from torch.utils.flop_counter import FlopCounterMode
  except ImportError:
    return None
  counter = FlopCounterMode(display=False)
  with counter:
    fn()
  return float(counter.get_total_flops())


def benchmark(kind: str, batch: int, steps: int, warmup: int, seed: int = 0):
  torch.manual_seed(seed)
  model = build_model()
  num_params = sum(p.numel() for p in model.parameters())
  images = torch.randn(batch, 3, 224, 224)
  labels = torch.randint(0, 2, (batch,))
  if kind == 'train':
    model.train()  # Dropout rates are 0, as in the JAX config.
    opt = torch.optim.Adam(model.parameters(), lr=3e-5)

    def step():
      opt.zero_grad()
      loss = F.cross_entropy(model(images), labels)
      loss.backward()
      opt.step()
  else:
    model.eval()

    def step():
      with torch.inference_mode():
        model(images)
  times = _time(step, steps, warmup)
  return _row(kind, times, batch, num_params, _flops(step))


def report(row: dict) -> str:
  gib = 2**30
  flops = ''
  if row.get('flops_per_step'):
    flops = (f', {row["flops_per_step"] / row["step_s_median"] / 1e9:.1f} '
             'GFLOP/s (matmuls, FlopCounterMode)')
  return (f'{row["kind"]:>7}: {row["images_per_s"]:8.1f} images/s '
          f'(step median {row["step_s_median"] * 1e3:.1f} ms, min '
          f'{row["step_s_min"] * 1e3:.1f}, max {row["step_s_max"] * 1e3:.1f}; '
          f'batch {row["batch"]}, {row["tokens"]} tokens), peak RSS '
          f'{row["peak_rss_bytes"] / gib:.2f} GiB{flops}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--kind', choices=['train', 'forward', 'both'],
                      default='both')
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--warmup', type=int, default=3)
  parser.add_argument('--threads', type=int, default=2)
  parser.add_argument('--json', action='store_true',
                      help='also print RESULT {json} lines')
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  kinds = ['train', 'forward'] if args.kind == 'both' else [args.kind]
  print(f'# torch {torch.__version__}, {torch.get_num_threads()} threads, '
        f'float32', flush=True)
  for kind in kinds:
    row = benchmark(kind, args.batch, args.steps, args.warmup)
    print(report(row), flush=True)
    if args.json:
      print('RESULT ' + json.dumps(row), flush=True)


if __name__ == '__main__':
  main()
