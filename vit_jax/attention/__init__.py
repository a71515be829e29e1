"""Attention variants. Importing this package registers all of them.

Adding a variant: one new module here that decorates its class with
`registry.register(name)`, plus its import line below.
"""

from vit_jax.attention import additive  # noqa: F401  (registers 'additive')
from vit_jax.attention import full  # noqa: F401  (registers 'full')
from vit_jax.attention import linformer  # noqa: F401  (registers 'linformer')
from vit_jax.attention import luong  # noqa: F401  (registers 'luong')
from vit_jax.attention.registry import get, names, options_of, register, unregister  # noqa: F401
