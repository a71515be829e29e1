"""Sklearn's digits translated (and cluttered) on a 60x60 canvas (see
generator) as the tfds dataset 'translated_digits/{translated,cluttered}'
(see translated_digits_dataset_builder)."""

from vit_jax.data.translated_digits.generator import KINDS
from vit_jax.data.translated_digits.translated_digits_dataset_builder import Builder
from vit_jax.data.translated_digits.translated_digits_dataset_builder import load_builder
