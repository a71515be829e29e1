"""Dataset sources, one module per kind, selected by config.dataset.

Importing this package registers every kind. Adding one (e.g. token
sequences): a module here with a `base.SourceKind` subclass decorated
`@registry.register` whose `open` returns a `base.Source`, plus its import
line below. The input pipeline only calls `open_split`.
"""

# One line per kind; order does not matter (tfds serves the names no other
# kind serves).
from vit_jax.data.sources import folder  # noqa: F401  ('folder:DIR')
from vit_jax.data.sources import local_builders  # noqa: F401  (digits, ...)
from vit_jax.data.sources import sequence_builders  # noqa: F401  (reversal, dates)
from vit_jax.data.sources import synthetic  # noqa: F401  ('synthetic')
from vit_jax.data.sources import tfds_prepared  # noqa: F401  (other names)

from vit_jax.data.sources.base import Feature  # noqa: F401
from vit_jax.data.sources.base import NotPreparedError  # noqa: F401
from vit_jax.data.sources.base import Source  # noqa: F401
from vit_jax.data.sources.base import SourceKind  # noqa: F401
from vit_jax.data.sources.registry import open_split  # noqa: F401
from vit_jax.data.sources.registry import register  # noqa: F401
