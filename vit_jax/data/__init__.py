"""Input data: sources by kind (vit_jax/data/sources: tfds, the local digits
and pathfinder builders, image folders, synthetic), image ops
(vit_jax/data/ops) and the deterministic, resumable batches
(input_pipeline)."""

from vit_jax.data.input_pipeline import class_names
from vit_jax.data.input_pipeline import dataset_info
from vit_jax.data.input_pipeline import DatasetInfo
from vit_jax.data.input_pipeline import eval_batches
from vit_jax.data.input_pipeline import train_batches
