"""Model FLOPs: the matmul FLOPs a step needs by definition, as in MFU.

XLA's cost analysis counts what the compiled program does, and counts a loop
body once whatever its trip count: the 'chunked' attention (a lax.map over
query chunks of a lax.scan over key chunks, rematerialised) came out several
times too low. Here the count is taken from the forward pass's jaxpr instead:

  forward model FLOPs = sum over dot_general / conv ops of 2 x multiply-adds,
                        loop bodies times their trip count;
  train model FLOPs   = 3 x forward (the backward pass is two matmuls per
                        forward matmul: input and weight gradient).

Not counted: elementwise work (softmax, GELU, LayerNorm, the optimizer) and
recomputation (checkpointed chunks run their forward twice, but that is the
implementation's choice, not the model's). So utilisation = model FLOPs / s /
matmul FLOP/s compares attention variants on the work they must do. Counting
the jaxpr needs no per-variant formula: any registered attention is counted
as written, including padding to whole chunks (at most chunks - 1 rows).
"""

import math
from typing import Sequence

import jax
from jax.extend import core

TRAIN_FACTOR = 3  # Forward + backward (input and weight gradients).

# Primitives whose FLOPs a jaxpr cannot show (fused library kernels).
_OPAQUE = ('custom_call', 'ffi_call', 'pallas_call', 'dot_product_attention',
           'cudnn_fusion', 'scaled_matmul')


def _dot_general_flops(eqn) -> float:
  lhs, rhs = (v.aval.shape for v in eqn.invars)
  (_, rhs_contract), (_, rhs_batch) = eqn.params['dimension_numbers']
  rhs_free = [d for i, d in enumerate(rhs)
              if i not in rhs_contract and i not in rhs_batch]
  # lhs holds batch x free x contracting; times rhs's free dims.
  return 2.0 * math.prod(lhs) * math.prod(rhs_free)


def _conv_flops(eqn) -> float:
  out = eqn.outvars[0].aval.shape
  kernel = eqn.params['dimension_numbers'].rhs_spec  # (out, in, *spatial).
  rhs = eqn.invars[1].aval.shape
  macs_per_output = math.prod(rhs[i] for i in kernel[1:])
  return 2.0 * math.prod(out) * macs_per_output


def jaxpr_flops(jaxpr: core.Jaxpr) -> float:
  """Matmul and convolution FLOPs of `jaxpr`, loops times their trip count.

  Raises:
    ValueError: the jaxpr holds a while loop (unknown trip count) or a fused
      library kernel whose FLOPs it cannot see.
  """
  total = 0.0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == 'dot_general':
      total += _dot_general_flops(eqn)
    elif name == 'conv_general_dilated':
      total += _conv_flops(eqn)
    elif name == 'while':
      raise ValueError('cannot count FLOPs of a while loop (unknown trip '
                       'count); write it as lax.scan / lax.map')
    elif any(opaque in name for opaque in _OPAQUE):
      raise ValueError(f'cannot count FLOPs inside the fused kernel {name!r}')
    elif name == 'cond':  # One branch runs: count the dearest.
      total += max(jaxpr_flops(b.jaxpr) for b in eqn.params['branches'])
    else:  # pjit, custom_vjp/jvp (their primal only), checkpoint, scan.
      inner = sum(jaxpr_flops(j) for j in core.jaxprs_in_params(eqn.params))
      total += inner * eqn.params.get('length', 1)  # scan's trip count.
  return total


def forward_flops(model, inputs: Sequence[jax.ShapeDtypeStruct],
                  batch: int) -> float:
  """Matmul FLOPs of one forward pass of `model` on a batch of `batch`.

  Args:
    model: the flax module.
    inputs: its positional inputs for one example (`task.init_inputs`).
    batch: the batch size counted.
  """
  inputs = [jax.ShapeDtypeStruct((batch,) + x.shape[1:], x.dtype)
            for x in inputs]
  params = jax.eval_shape(
      lambda *x: model.init(jax.random.key(0), *x, train=False), *inputs)
  closed = jax.make_jaxpr(
      lambda v, *x: model.apply(v, *x, train=False))(params, *inputs)
  return jaxpr_flops(closed.jaxpr)


def step_flops(model, inputs: Sequence[jax.ShapeDtypeStruct], batch: int,
               kind: str) -> float:
  """Model FLOPs of a 'train' step (3 x forward) or a 'forward' pass."""
  factor = {'train': TRAIN_FACTOR, 'forward': 1}[kind]
  return factor * forward_flops(model, inputs, batch)
