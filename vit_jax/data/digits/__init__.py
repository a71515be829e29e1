"""The 8x8 digits tfds dataset (see digits_dataset_builder)."""

from vit_jax.data.digits.digits_dataset_builder import Builder
from vit_jax.data.digits.digits_dataset_builder import load_builder
