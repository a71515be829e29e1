r"""The accelerator check: kernels on the real backend, then short benchmarks.

Run on a machine with a GPU or TPU (tests and CI run on CPU and cannot):

  bash experiments/accelerator_check.sh          # or:
  python experiments/accelerator_check.py [--quick]

1. Kernels on this backend, each against the einsum path (values and
   gradients through a ViT block, float32 at highest matmul precision and
   bfloat16, with and without a padding mask): `full` with
   implementation='flash' (splash on TPU, cuDNN on GPU; the line says which
   kernel ran or why it fell back), the plain vs CPU-tuned layer forms
   (model.kernels), and the scanned vs looped encoder.
2. Train step and forward pass of the catsdogs and n = 4,097 configs (full
   attention through the fused kernel, and Linformer), in float32 and
   bfloat16: images/s, tokens/s, model TFLOP/s and utilisation against the
   measured matmul peak and the device's published bf16 peak.

Exits 1 if a kernel check fails. On CPU it refuses unless --allow_cpu (a
smoke test of this script; the figures then mean nothing for accelerators).
"""

import copy
import functools
import sys

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from configs import catsdogs
from configs import seed_2048
from vit_jax.attention import full
from vit_jax.attention import fused_kernels
from vit_jax.models import vit
from vit_jax.sweeps import point

_ALLOW_CPU = flags.DEFINE_bool('allow_cpu', False, 'Run on CPU (smoke test).')
_QUICK = flags.DEFINE_bool('quick', False, 'Kernel checks and catsdogs only.')
_STEPS = flags.DEFINE_integer('steps', 5, 'Timed steps per benchmark.')

# Published dense bf16 peaks (FLOP/s) by `device_kind` prefix.
BF16_PEAKS = {
    'NVIDIA H200': 989e12, 'NVIDIA H100': 989e12, 'NVIDIA A100': 312e12,
    'NVIDIA L4': 121e12, 'TPU v6 lite': 918e12, 'TPU v5p': 459e12,
    'TPU v5 lite': 197e12, 'TPU v4': 275e12,
}
TOLERANCE = {jnp.float32: 2e-3, jnp.bfloat16: 6e-2}  # Relative to max |ref|.


def _relative_error(a, b, floor: float = 1e-6) -> float:
  """max |a - b| over max |b| (at least `floor`)."""
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  return float(np.abs(a - b).max() / max(np.abs(b).max(), floor))


def _gradient_error(grads, reference) -> float:
  """Worst relative error over the gradient arrays. An array whose true
  gradient is ~0 (the key bias: softmax ignores a per-query constant) is
  measured against 1e-3 of the largest gradient, not against its own noise."""
  leaves, ref_leaves = jax.tree.leaves(grads), jax.tree.leaves(reference)
  scale = max(float(np.abs(np.asarray(r, np.float32)).max())
              for r in ref_leaves)
  return max(_relative_error(a, b, 1e-3 * scale)
             for a, b in zip(leaves, ref_leaves))


def _block_outputs(implementation, dtype, masked, n=257, dim=256, heads=4):
  """Output and gradients of a ViT block with full attention, [2, n, dim]."""
  block = vit.Encoder1DBlock(
      make_attention=functools.partial(full.FullAttention, num_heads=heads,
                                       implementation=implementation),
      mlp_dim=4 * dim, dtype=dtype)
  x = jax.random.normal(jax.random.key(0), (2, n, dim)).astype(dtype)
  mask = (jnp.arange(n)[None] < jnp.array([[n], [n // 2]])) if masked else None
  params = block.init(jax.random.key(1), x, mask, True)['params']

  def loss(params, x):
    y = block.apply({'params': params}, x, mask, True)
    return jnp.sum(jnp.sin(y.astype(jnp.float32))), y

  (_, y), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1),
                                             has_aux=True))(params, x)
  return y, grads


def check_kernels() -> bool:
  """Prints one line per check; True if all pass."""
  ok = True
  backend = jax.default_backend()
  for dtype in (jnp.float32, jnp.bfloat16):
    for masked in (False, True):
      q = jnp.zeros((1, 1, 1, 64), dtype)
      kernel, why = fused_kernels.kernel_for(backend, q)
      ran = (getattr(kernel, '__name__', 'cudnn') if kernel else
             f'chunked fallback ({why})')
      with jax.default_matmul_precision('highest'):
        y_ref, g_ref = _block_outputs('einsum', dtype, masked)
        y, g = _block_outputs('flash', dtype, masked)
      errors = [_relative_error(y, y_ref), _gradient_error(g, g_ref)]
      passed = max(errors) <= TOLERANCE[dtype]
      ok &= passed
      print(f'{"PASS" if passed else "FAIL"} flash vs einsum, '
            f'{jnp.dtype(dtype).name}, mask={masked}: kernel {ran}; max '
            f'relative error output {errors[0]:.1e}, gradients '
            f'{errors[1]:.1e}', flush=True)
  return ok


def check_forms() -> bool:
  """plain vs cpu_tuned layer forms, scan vs loop, on this backend."""
  from configs import common
  from vit_jax import models
  from vit_jax.models import layer_layout
  images = jax.random.normal(jax.random.key(1), (4, 64, 64, 3))
  attention = dict(name='linformer', k=16, max_length=17, sharing='kv')

  def logits(**kwargs):
    model = models.get_model(common.vit_model(
        patch_size=16, hidden_size=64, num_layers=3, num_heads=4, mlp_dim=128,
        attention=attention, **kwargs), 10)
    params = model.init(jax.random.key(0), images, train=False)['params']
    params = jax.tree.map(lambda p: p + 0.05, params)  # Non-zero head.
    if kwargs.get('scan_layers'):
      return model, params
    return model.apply({'params': params}, images, train=False), params

  ok = True
  with jax.default_matmul_precision('highest'):
    plain, params = logits(kernels='plain')
    tuned, _ = logits(kernels='cpu_tuned')
    scan_model, _ = logits(kernels='plain', scan_layers=True)
    scanned = scan_model.apply({'params': layer_layout.to_scan(params)},
                               images, train=False)
  for name, got in (('cpu_tuned vs plain forms', tuned),
                    ('scanned vs looped encoder', scanned)):
    error = _relative_error(got, plain)
    passed = error <= 1e-4
    ok &= passed
    print(f'{"PASS" if passed else "FAIL"} {name}: max relative error '
          f'{error:.1e}', flush=True)
  return ok


def benchmark(name: str, config) -> None:
  """Prints train and forward figures of `config`."""
  kind_peak = next((peak for prefix, peak in BF16_PEAKS.items()
                    if jax.devices()[0].device_kind.startswith(prefix)), None)
  for kind in ('train', 'forward'):
    config = copy.deepcopy(config)
    config.unlock()
    config.mode = 'benchmark'
    config.benchmark.kind = kind
    config.benchmark.steps = _STEPS.value
    try:
      row = point.result_row(config, workdir='')
    except Exception as e:  # pylint: disable=broad-except
      print(f'{name} {kind}: failed: {type(e).__name__}: {e}', flush=True)
      continue
    flops = row['model_flops_per_s']
    spec = (f', {flops / kind_peak:.0%} of the published bf16 peak '
            f'{kind_peak / 1e12:.0f} TFLOP/s' if kind_peak else '')
    print(f'{name} {kind}: {row["images_per_s"]:.1f} images/s, '
          f'{row["tokens_per_s"]:.0f} tokens/s (batch {row["batch"]}, '
          f'{row["tokens"]} tokens, step median '
          f'{row["step_s_median"] * 1e3:.1f} ms), {flops / 1e12:.2f} model '
          f'TFLOP/s = {flops / row["matmul_flops_per_s"]:.0%} of measured '
          f'matmul peak {row["matmul_flops_per_s"] / 1e12:.1f} TFLOP/s'
          f'{spec}', flush=True)


def main(argv):
  del argv
  backend = jax.default_backend()
  print(f'backend {backend}: {jax.device_count()} x '
        f'{jax.devices()[0].device_kind}; jax {jax.__version__}', flush=True)
  if backend == 'cpu' and not _ALLOW_CPU.value:
    print('error: no GPU or TPU here (--allow_cpu runs this as a smoke test)',
          file=sys.stderr)
    sys.exit(2)
  ok = check_kernels() & check_forms()
  configs = {
      'catsdogs linformer f32': catsdogs.get_config('linformer'),
      'catsdogs full flash f32': catsdogs.get_config(
          'full,implementation=flash'),
  }
  if not _QUICK.value:
    configs.update({
        'catsdogs linformer bf16': catsdogs.get_config('linformer'),
        'n=4097 linformer f32': seed_2048.get_config('linformer'),
        'n=4097 full flash bf16': seed_2048.get_config(
            'full,implementation=flash'),
        'n=4097 linformer bf16': seed_2048.get_config('linformer'),
    })
  for name, config in configs.items():
    if 'bf16' in name:
      config.model.dtype = 'bfloat16'
    benchmark(name, config)
  sys.exit(0 if ok else 1)


if __name__ == '__main__':
  app.run(main)
