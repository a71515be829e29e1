"""Image preprocessing: batch ops `op(images, seeds) -> images` in NumPy/PIL.

preprocess (decoding, resizing, per-example seeds, value range), spatial
(crops, flips), randaugment, mixup, and op_lists (the names configs use).
The input pipeline runs them on a source's image features only; other
features pass through unchanged.
"""
