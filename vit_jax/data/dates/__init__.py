"""Dates in many human formats and their ISO form as the tfds dataset
'dates' (see dates_dataset_builder)."""

from vit_jax.data.dates.dates_dataset_builder import Builder
from vit_jax.data.dates.dates_dataset_builder import load_builder
from vit_jax.data.dates.generator import VOCABULARY
