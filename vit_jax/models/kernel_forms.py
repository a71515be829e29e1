"""Which form of the same computation the model's layers use: CPU-tuned or plain.

Several layers here have a second form of the same values written for
XLA:CPU: custom gradients for Dense (row-major weight gradient), LayerNorm
and GELU, optimisation barriers that keep XLA from undoing them, attention
normalised after its second matmul, and Linformer's sequence map applied to
x before the key and value maps. On GPU and TPU they only get in the way of
XLA's fusions (a barrier or a custom_vjp is a fusion boundary), so there the
plain flax/JAX forms are used. `config.model.kernels` chooses:

  'auto'       CPU-tuned forms on the CPU backend, plain forms elsewhere;
  'cpu_tuned'  the CPU-tuned forms on every backend;
  'plain'      flax's and JAX's own forms on every backend.

Both forms have the same parameters and give the same values and gradients
(to rounding; tests/test_kernel_forms.py).
"""

import jax

KERNELS = ('auto', 'cpu_tuned', 'plain')


def use_cpu_tuned(kernels: str) -> bool:
  """True if layers should take their CPU-tuned forms (see module doc)."""
  if kernels not in KERNELS:
    raise ValueError(f'unknown model.kernels {kernels!r}; known: '
                     f'{", ".join(KERNELS)}')
  if kernels == 'auto':
    return jax.default_backend() == 'cpu'
  return kernels == 'cpu_tuned'
