r"""Compile time and XLA's memory plan of the train step: looped vs scanned
encoder (model.scan_layers), with and without remat, at several depths.

  python experiments/scan_compile.py --config=configs/catsdogs.py:linformer \
      --depths=12,24

Prints one row per (depth, layout, remat): seconds to lower and compile the
jitted train step, and XLA's plan of temporaries (activations kept for the
backward pass and scratch) in MiB. No step is run. Figures differ by
machine; the `machine:` line says which CPU gave them (docs/results.md keeps
dated figures).
"""

import time

from absl import app
from absl import flags
from ml_collections import config_flags

from vit_jax.benchmarking import step_benchmark
from vit_jax.runtime import cpu_info

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file.',
                                          lock_config=True)
_DEPTHS = flags.DEFINE_list('depths', ['12', '24'], 'Encoder depths.')
_REMATS = flags.DEFINE_list('remat_policies', ['none', 'full'],
                            'model.remat_policy values to compare.')


def measure(config, depth: int, scan: bool, remat: str) -> dict:
  """Compile seconds and XLA temporaries of one variant of `config`."""
  config = config.copy_and_resolve_references()
  config.model.transformer.num_layers = depth
  config.model.scan_layers = scan
  config.model.remat_policy = remat
  step, args, *_ = step_benchmark.build_step(config, 'train')
  start = time.perf_counter()
  compiled = step.lower(*args).compile()
  seconds = time.perf_counter() - start
  temp = compiled.memory_analysis().temp_size_in_bytes
  return dict(depth=depth, layout='scan' if scan else 'loop', remat=remat,
              compile_s=seconds, temp_mib=temp / 2**20)


def main(argv):
  del argv
  print(f'machine: {cpu_info.describe()}')
  print(f'{"depth":>5} {"layout":>6} {"remat":>6} {"compile_s":>9} '
        f'{"temp_MiB":>9}')
  for depth in map(int, _DEPTHS.value):
    for remat in _REMATS.value:
      for scan in (False, True):
        row = measure(_CONFIG.value, depth, scan, remat)
        print(f'{row["depth"]:>5} {row["layout"]:>6} {row["remat"]:>6} '
              f'{row["compile_s"]:>9.1f} {row["temp_mib"]:>9.1f}', flush=True)


if __name__ == '__main__':
  flags.mark_flag_as_required('config')
  app.run(main)
