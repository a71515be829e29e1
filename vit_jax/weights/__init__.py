"""Published ViT weights in and out: VT/big_vision `.npz` files, adaptation to
a new config (head, position embedding, Linformer projections), export.

See docs/weights.md.
"""
