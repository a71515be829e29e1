"""Attention maps of a ViT: attention rollout and the last layer's cls row.

Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
Transformers"): with A_l the layer's attention averaged over heads,
Â_l = rownorm(0.5 A_l + 0.5 I) accounts for the residual connection, and
R = Â_L ··· Â_1 says how much each input token flows into each output
token. The cls token's row of R over the patch tokens, reshaped to the patch
grid, is the map; the raw last-layer cls attention is shown next to it.

The weights are recomputed, never read from the attention modules, so any
`full` implementation works (einsum, chunked, flash, xla, cudnn): each
block's `LayerNorm_0` output is captured (flax `capture_intermediates`) and
softmax(q kᵀ / √d) is rebuilt from the block's query and key parameters.
Scanned encoders are converted to the loop layout first
(vit_jax/models/layer_layout.py).

Linformer (a heuristic, labelled so): a head's weights P [n, k] over the
projected keys are composed with the value projection F [n, k] into
P Fᵀ [n, n], the exact linear map from value tokens to outputs (for 'kv'
and 'layerwise' sharing F = E, the key projection); it may be negative and
its rows need not sum to 1, so |P Fᵀ| is row-normalised before rollout.
"""

import dataclasses
from typing import Any, Mapping

import jax
import numpy as np

from vit_jax.models import layer_layout

BLOCK = 'encoderblock_{}'
ATTENTION = 'MultiHeadDotProductAttention_1'


@dataclasses.dataclass(frozen=True)
class AttentionWeights:
  """Per-layer attention of a batch.

  Attributes:
    layers: [layers, batch, heads, n, n] float64; rows sum to 1.
    grid: (rows, cols) of the patch tokens.
    num_prefix_tokens: tokens before the patches (1 with a cls token).
    heuristic: True if the weights are Linformer's composed map, not a
      softmax over the tokens.
  """
  layers: np.ndarray
  grid: tuple[int, int]
  num_prefix_tokens: int
  heuristic: bool


def rollout(layers: np.ndarray) -> np.ndarray:
  """Attention rollout: [layers, heads, n, n] -> [n, n] (rows sum to 1).

  Each layer: mean over heads, 0.5·A + 0.5·I, rows normalised; the layers'
  matrices are multiplied, the last layer's on the left.
  """
  layers = np.asarray(layers, np.float64)
  assert layers.ndim == 4 and layers.shape[-1] == layers.shape[-2], (
      layers.shape)
  n = layers.shape[-1]
  result = np.eye(n)
  for weights in layers:
    mixed = 0.5 * weights.mean(axis=0) + 0.5 * np.eye(n)
    mixed /= mixed.sum(axis=-1, keepdims=True)
    result = mixed @ result
  return result


def token_map(matrix: np.ndarray, grid: tuple[int, int],
              num_prefix_tokens: int) -> np.ndarray:
  """The map of the classifier's view, [rows, cols] over the patches.

  With a cls token its row of `matrix` [n, n] over the patch columns; without
  one (gap) the mean of the patch rows.
  """
  if num_prefix_tokens:
    row = matrix[0]
  else:
    row = matrix.mean(axis=0)
  return row[num_prefix_tokens:].reshape(grid)


def _softmax(x: np.ndarray) -> np.ndarray:
  x = x - x.max(axis=-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(axis=-1, keepdims=True)


def _heads(x: np.ndarray, dense: Mapping[str, Any]) -> np.ndarray:
  """x [b, n, dim] through a (kernel [dim, h, d], bias [h, d]) map ->
  [b, n, h, d]."""
  kernel = np.asarray(dense['kernel'], np.float64)
  return np.einsum('bnc,chd->bnhd', x, kernel) + np.asarray(
      dense['bias'], np.float64)


def _sequence_maps(attention: Mapping[str, Any], encoder: Mapping[str, Any],
                   n: int) -> tuple[np.ndarray, np.ndarray] | None:
  """Linformer's (E, F), each [n, k] or [heads, n, k]; None for full attention.

  Sharing modes by their parameters: 'key_projection' and 'value_projection'
  (none, headwise); 'kv_projection' (kv: E = F); neither, with the encoder's
  'shared_attention' kernel (layerwise: E = F).
  """
  def kernel(tree):
    return np.asarray(tree['kernel'], np.float64)[..., :n, :]
  if 'key_projection' in attention:
    return kernel(attention['key_projection']), kernel(
        attention['value_projection'])
  if 'kv_projection' in attention:
    both = kernel(attention['kv_projection'])
    return both, both
  if 'kernel' in encoder.get('shared_attention', {}):
    both = kernel(encoder['shared_attention'])
    return both, both
  return None


def _project(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """[b, n, h, d] along n by kernel [n, k] or [h, n, k] -> [b, k, h, d]."""
  if kernel.ndim == 2:
    return np.einsum('bnhd,nk->bkhd', x, kernel)
  return np.einsum('bnhd,hnk->bkhd', x, kernel)


def _compose(weights: np.ndarray, value_map: np.ndarray) -> np.ndarray:
  """P [b, h, q, k] with F [n, k] or [h, n, k] -> P Fᵀ [b, h, q, n]."""
  if value_map.ndim == 2:
    return np.einsum('bhqk,nk->bhqn', weights, value_map)
  return np.einsum('bhqk,hnk->bhqn', weights, value_map)


def layer_weights(x: np.ndarray, attention: Mapping[str, Any],
                  encoder: Mapping[str, Any]) -> tuple[np.ndarray, bool]:
  """One block's attention [b, heads, n, n] from its normed input x [b, n, dim].

  Returns:
    The weights and whether they are the Linformer heuristic.
  """
  q = _heads(x, attention['query'])
  k = _heads(x, attention['key'])
  scale = 1 / np.sqrt(q.shape[-1])
  linformer = _sequence_maps(attention, encoder, x.shape[1])
  if linformer is None:
    return _softmax(np.einsum('bqhd,bkhd->bhqk', q * scale, k)), False
  key_map, value_map = linformer
  projected = _project(k, key_map)  # [b, k, h, d]
  weights = _softmax(np.einsum('bqhd,bkhd->bhqk', q * scale, projected))
  composed = np.abs(_compose(weights, value_map))
  composed /= np.maximum(composed.sum(-1, keepdims=True), 1e-30)
  return composed, True


def attention_weights(model, params, images: np.ndarray) -> AttentionWeights:
  """Recomputes every block's attention of a VisionTransformer.

  Args:
    model: the run's `VisionTransformer` (any attention implementation; a
      scanned encoder is run in the loop layout).
    params: its parameters.
    images: [batch, H, W, C] as the model takes them.
  """
  params = jax.device_get(params)
  if layer_layout.is_scanned(params):
    params = layer_layout.to_loop(params)
    model = model.clone(scan_layers=False)
  _, state = model.apply(
      {'params': params}, images, train=False,
      capture_intermediates=lambda module, method: (
          module.name == 'LayerNorm_0' and method == '__call__'),
      mutable=['intermediates'])
  encoder_state = state['intermediates']['Transformer']
  encoder = params['Transformer']
  layers, heuristic = [], False
  i = 0
  while BLOCK.format(i) in encoder:
    block = BLOCK.format(i)
    (normed,) = encoder_state[block]['LayerNorm_0']['__call__']
    weights, approx = layer_weights(np.asarray(normed, np.float64),
                                    encoder[block][ATTENTION], encoder)
    layers.append(weights)
    heuristic |= approx
    i += 1
  prefix = 1 if model.classifier == 'token' else 0
  n = layers[0].shape[-1]
  side = images.shape[1] // model.patch_size
  grid = (side, (n - prefix) // side)
  return AttentionWeights(layers=np.stack(layers), grid=grid,
                          num_prefix_tokens=prefix, heuristic=heuristic)


def image_maps(weights: AttentionWeights) -> dict[str, np.ndarray]:
  """Per image, the 'rollout' and the raw 'last_layer' map: [b, rows, cols]."""
  rolled, last = [], []
  for b in range(weights.layers.shape[1]):
    per_image = weights.layers[:, b]  # [layers, heads, n, n]
    rolled.append(token_map(rollout(per_image), weights.grid,
                            weights.num_prefix_tokens))
    last.append(token_map(per_image[-1].mean(axis=0), weights.grid,
                          weights.num_prefix_tokens))
  return {'rollout': np.stack(rolled), 'last_layer': np.stack(last)}
