"""XLA flags that make a run's numbers the same in every process.

XLA:CPU's multi-threaded Eigen matmuls summed in an order that varied between
processes: some identical fresh runs of one config differed after 100 steps
with them, all agreed without them, at no measurable cost on the catsdogs
train step (figures: docs/results.md). The GPU flag is XLA's documented
equivalent. XLA reads XLA_FLAGS when the backend starts (the first
computation), so call this before that; importing jax is fine. Flags the user
set already are left as they are.
"""

import os

FLAGS = ('--xla_cpu_multi_thread_eigen=false',
         '--xla_gpu_deterministic_ops=true')


def use_deterministic_kernels() -> None:
  """Adds FLAGS to XLA_FLAGS, except those already given a value there."""
  flags_now = os.environ.get('XLA_FLAGS', '').split()
  names = {f.split('=')[0] for f in flags_now}
  added = [f for f in FLAGS if f.split('=')[0] not in names]
  os.environ['XLA_FLAGS'] = ' '.join(flags_now + added)
