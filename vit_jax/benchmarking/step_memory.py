"""Memory a running step actually uses, measured from the process's RSS.

XLA's memory plan (`compiled.memory_analysis()`) covers the buffers XLA
assigns. On XLA:CPU, library fusions (YNNPACK `ynn_fusion`s) allocate their
own intermediates outside that plan: a fused q kᵀ -> softmax -> · v keeps the
[heads, n, n] logits and weights there, so the forward pass of the dim-256
ViT with full attention at n = 4097 grew RSS by ~10x its plan (its train
step ~1.2x; figures: docs/results.md). The honest figure is the peak RSS
while the step runs, above the RSS just before it.

Linux only: the kernel's peak-RSS mark (VmHWM) is reset through
/proc/self/clear_refs (vit_jax/runtime/process_memory.py); getrusage's
ru_maxrss reads the same mark, so read it before if the earlier peak matters.
Elsewhere the measurement is None.
"""

import contextlib
import dataclasses
from typing import Iterator, Optional

from vit_jax.runtime import process_memory


@dataclasses.dataclass
class Growth:
  """Peak RSS above the starting RSS, in bytes (None where unsupported)."""
  bytes: Optional[int] = None


@contextlib.contextmanager
def rss_growth() -> Iterator[Growth]:
  """Measures the peak RSS growth of the code in the `with` block.

  Memory the block frees and the allocator keeps (pages reused by the next
  step) counts once, at its peak, as it should.
  """
  growth = Growth()
  start = (process_memory.rss_bytes() if process_memory.reset_peak_rss()
           else None)
  yield growth
  peak = process_memory.peak_rss_bytes()
  if start is not None and peak is not None:
    growth.bytes = max(0, peak - start)
