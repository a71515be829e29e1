"""Synthetic Pathfinder images (see generator) as the tfds dataset
'pathfinder/{32,64,128}' (see pathfinder_dataset_builder)."""

from vit_jax.data.pathfinder.generator import SIZES
from vit_jax.data.pathfinder.pathfinder_dataset_builder import Builder
from vit_jax.data.pathfinder.pathfinder_dataset_builder import load_builder
