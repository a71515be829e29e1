"""VT's and big_vision's published `.npz` weight files, read and written.

A file is a flat mapping of '/'-joined parameter paths to arrays (no pickle).
google-research/vision_transformer (VT) publishes the names this model uses:

  cls [1, 1, D]                      embedding/kernel [p, p, C, D] (HWIO)
  Transformer/posembed_input/pos_embedding [1, (1 +) gh * gw, D]
  Transformer/encoderblock_{i}/LayerNorm_0, LayerNorm_2   (scale, bias)
  Transformer/encoderblock_{i}/MultiHeadDotProductAttention_1/{query,key,
      value}/kernel [D, heads, D / heads], out/kernel [heads, D / heads, D]
  Transformer/encoderblock_{i}/MlpBlock_3/Dense_0, Dense_1
  Transformer/encoder_norm           pre_logits (optional)     head

big_vision's files differ in three ways, all undone by `read`:
  - `pos_embedding` at the top level (or under Transformer), added to the
    patches *before* the cls token is prepended: the cls token gets no
    position embedding, i.e. a zero row in VT's layout;
  - block modules numbered per type: LayerNorm_0/1, MultiHeadDotProductAttention_0,
    MlpBlock_0 (VT's LayerNorm_0/2, MultiHeadDotProductAttention_1, MlpBlock_3);
  - scanned encoders: one `encoderblock` with a leading layer axis.
`read` returns VT's names, in whichever layer layout the file has;
`vit_jax.models.layer_layout` converts between the layouts.
"""

import os
import tempfile
import zipfile
from typing import Any, Mapping

import numpy as np

from vit_jax.errors import ConfigError, WriteError
from vit_jax.models import layer_layout

SEPARATOR = '/'
POSEMB_PATH = ('Transformer', 'posembed_input', 'pos_embedding')
# big_vision's block module names -> VT's.
_BIG_VISION_BLOCK_NAMES = {
    'LayerNorm_1': 'LayerNorm_2',
    'MultiHeadDotProductAttention_0': 'MultiHeadDotProductAttention_1',
    'MlpBlock_0': 'MlpBlock_3',
}


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """{'a': {'b': x}} -> {'a/b': x}."""
  flat = {}
  for key, value in tree.items():
    path = f'{prefix}{key}'
    if isinstance(value, Mapping):
      flat.update(flatten(value, path + SEPARATOR))
    else:
      flat[path] = value
  return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  """{'a/b': x} -> {'a': {'b': x}}."""
  tree: dict[str, Any] = {}
  for path, value in flat.items():
    *parents, leaf = path.split(SEPARATOR)
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree


def read_flat(path: str) -> dict[str, np.ndarray]:
  """The arrays of an .npz file, by key; never unpickles.

  Raises:
    ConfigError: missing, unreadable, not an .npz, or holding objects.
  """
  if not os.path.isfile(path):
    raise ConfigError(f'weights file {path} does not exist')
  if not zipfile.is_zipfile(path):  # np.load would try it as a pickle.
    raise ConfigError(f'weights file {path} is not a readable .npz file (not '
                      'a zip archive of .npy arrays)')
  try:
    with np.load(path, allow_pickle=False) as npz:
      return {key: npz[key] for key in npz.files}
  except ValueError as e:  # Object arrays need pickle: refused.
    raise ConfigError(f'weights file {path}: {str(e).splitlines()[0]}; '
                      'weights must be plain arrays (no pickle)') from None
  except (OSError, zipfile.BadZipFile, EOFError) as e:
    raise ConfigError(f'weights file {path} is not a readable .npz file '
                      f'({type(e).__name__}: {e})') from None


def read(path: str) -> dict[str, Any]:
  """A VT or big_vision .npz as a nested dict with VT's names (see module)."""
  flat = read_flat(path)
  if not flat:
    raise ConfigError(f'weights file {path} holds no arrays')
  return from_big_vision(unflatten(flat))


def from_big_vision(tree: Mapping[str, Any]) -> dict[str, Any]:
  """VT's names for a tree in big_vision's layout; VT trees pass unchanged."""
  tree = dict(tree)
  transformer = dict(tree.get('Transformer', {}))
  posemb = tree.pop('pos_embedding', None)
  if posemb is None:
    posemb = transformer.pop('pos_embedding', None)
  if posemb is not None:
    posemb = np.asarray(posemb)
    if 'cls' in tree:  # Added before cls was prepended: cls's row is zero.
      posemb = np.concatenate([np.zeros_like(posemb[:, :1]), posemb], axis=1)
    transformer['posembed_input'] = {'pos_embedding': posemb}
  for key, block in list(transformer.items()):
    if (key == layer_layout.SCAN_KEY or layer_layout.LOOP_KEY.match(key)) \
        and isinstance(block, Mapping) and 'MlpBlock_0' in block:
      transformer[key] = {_BIG_VISION_BLOCK_NAMES.get(name, name): value
                          for name, value in block.items()}
  if transformer:
    tree['Transformer'] = transformer
  return tree


def write(path: str, params: Mapping[str, Any]) -> int:
  """Writes `params` as a VT .npz (loop layout, float32 arrays); atomic.

  Returns:
    The number of arrays written.

  Raises:
    WriteError: the file cannot be written (the old one, if any, is kept).
  """
  flat = {k: np.asarray(v) for k, v in
          flatten(layer_layout.to_loop(params)).items()}
  directory = os.path.dirname(os.path.abspath(path))
  tmp = None
  try:
    os.makedirs(directory, exist_ok=True)
    # Written next to `path`, then renamed: a crash leaves the old file.
    with tempfile.NamedTemporaryFile(dir=directory, suffix='.npz.tmp',
                                     delete=False) as f:
      tmp = f.name
      np.savez(f, **flat)
    os.replace(tmp, path)
  except OSError as e:
    if tmp and os.path.exists(tmp):
      os.remove(tmp)
    raise WriteError(f'cannot write weights file {path}: {e}') from None
  return len(flat)
