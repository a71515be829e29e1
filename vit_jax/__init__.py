"""The attention lab: attention variants, Vision Transformers and their trainer in JAX/Flax."""
