"""Models. `get_model(config.model, num_classes)` builds one from a config."""

from vit_jax.models.vit import VisionTransformer  # noqa: F401
from vit_jax.models.factory import check_config, get_model, MODELS  # noqa: F401
