"""Integer sequences and their reversals as the tfds dataset 'reversal'
(see reversal_dataset_builder)."""

from vit_jax.data.reversal.generator import VOCABULARY
from vit_jax.data.reversal.reversal_dataset_builder import Builder
from vit_jax.data.reversal.reversal_dataset_builder import load_builder
