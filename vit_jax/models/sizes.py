"""ViT model sizes by name, as in the ViT paper (table 1) and VT's configs.

A name is `<size>/<patch>`, e.g. 'B/16': size in Ti/S/B/L/H, any patch size.
"""

from typing import Any

SIZES: dict[str, dict[str, int]] = {
    'Ti': dict(hidden_size=192, mlp_dim=768, num_heads=3, num_layers=12),
    'S': dict(hidden_size=384, mlp_dim=1536, num_heads=6, num_layers=12),
    'B': dict(hidden_size=768, mlp_dim=3072, num_heads=12, num_layers=12),
    'L': dict(hidden_size=1024, mlp_dim=4096, num_heads=16, num_layers=24),
    'H': dict(hidden_size=1280, mlp_dim=5120, num_heads=16, num_layers=32),
}


def parse(name: str) -> dict[str, Any]:
  """'B/16' -> model config fields (patch_size, hidden_size, transformer)."""
  size, _, patch = name.partition('/')
  if size not in SIZES or not patch.isdigit():
    raise ValueError(f'unknown ViT size {name!r}; expected <size>/<patch> with '
                     f'size in {", ".join(SIZES)}, e.g. B/16')
  dims = dict(SIZES[size])
  return dict(
      patch_size=int(patch),
      hidden_size=dims.pop('hidden_size'),
      transformer=dict(dims, dropout_rate=0.0, attention_dropout_rate=0.0))


def num_tokens(image_hw, patch_size: int, classifier: str) -> int:
  """Sequence length of a ViT: patches plus the cls token if any.

  Args:
    image_hw: (height, width) of the images, or one int for square ones.
    patch_size: side of the square patches.
    classifier: 'token' adds the cls token.
  """
  rows, cols = (image_hw, image_hw) if isinstance(image_hw, int) else image_hw
  return (rows // patch_size) * (cols // patch_size) + int(
      classifier == 'token')
