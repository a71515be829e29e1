"""tfds datasets generated here: prepared into data_dir on first use.

'digits' (sklearn's 8x8 digits, vit_jax/data/digits) and 'pathfinder/32',
'pathfinder/64', 'pathfinder/128' (vit_jax/data/pathfinder). Each builder
prepares itself under a lock (so concurrent runs prepare once) and is then
read like any prepared tfds dataset.
"""

import functools
from typing import Callable

from vit_jax.data import digits
from vit_jax.data import pathfinder
from vit_jax.data import translated_digits
from vit_jax.data.sources import base
from vit_jax.data.sources import registry
from vit_jax.data.sources import tfds_prepared

# Dataset name -> function(data_dir) returning the prepared tfds builder.
_BUILDERS: dict[str, Callable] = {
    'digits': digits.load_builder,
    **{f'pathfinder/{size}': functools.partial(pathfinder.load_builder, size)
       for size in pathfinder.SIZES},
    **{f'translated_digits/{kind}': functools.partial(
        translated_digits.load_builder, kind)
       for kind in translated_digits.KINDS},
}


@registry.register
class LocalBuilders(base.SourceKind):
  """The datasets of `_BUILDERS`, by their exact names."""

  names = tuple(_BUILDERS)

  def settings(self, config) -> tfds_prepared.TfdsSettings:
    return tfds_prepared.TfdsSettings.of(config)

  def open(self, dataset: str, split: str, *, role: str | None,
           settings: tfds_prepared.TfdsSettings) -> base.Source:
    del role  # tfds splits are named by the split string alone.
    builder = _BUILDERS[dataset](settings.data_dir)
    return tfds_prepared.open_builder_split(builder, dataset, split,
                                            settings.image)
