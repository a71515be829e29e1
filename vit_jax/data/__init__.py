"""Input data: digits, tfds, image-folder and synthetic sources; deterministic
batches."""

from vit_jax.data.input_pipeline import class_names
from vit_jax.data.input_pipeline import dataset_info
from vit_jax.data.input_pipeline import DatasetInfo
from vit_jax.data.input_pipeline import eval_batches
from vit_jax.data.input_pipeline import train_batches
