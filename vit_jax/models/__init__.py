"""Models, registered by name (vit_jax/models/registry.py). Importing this
package registers all of them; `get_model(config.model, ...)` builds one.

Adding a model: one module here whose class is decorated with
`registry.register(name)`, plus its import line below.
"""

from vit_jax.models import convnet  # noqa: F401  (registers 'convnet')
from vit_jax.models import mlp  # noqa: F401  (registers 'mlp')
from vit_jax.models import ram  # noqa: F401  (registers 'ram')
from vit_jax.models import seq2seq  # noqa: F401  (registers 'seq2seq')
from vit_jax.models import vit  # noqa: F401  (registers 'vit')
from vit_jax.models.factory import check_config, get_model, model_class  # noqa: F401
from vit_jax.models.registry import names, register, unregister  # noqa: F401
from vit_jax.models.vit import VisionTransformer  # noqa: F401
