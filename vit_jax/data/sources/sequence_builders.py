"""Token-sequence datasets generated here: prepared into data_dir on first use.

'reversal' (vit_jax/data/reversal) and 'dates' (vit_jax/data/dates): tfds
builders like the local image builders (local_builders), read as
sequence pairs (sequence_records) instead of images. Adding one: its
`load_builder` below.
"""

from typing import Callable

from vit_jax.data import dates
from vit_jax.data import reversal
from vit_jax.data.sources import base
from vit_jax.data.sources import registry
from vit_jax.data.sources import sequence_records
from vit_jax.data.sources import tfds_prepared

# Dataset name -> function(data_dir) returning the prepared tfds builder.
_BUILDERS: dict[str, Callable] = {
    'reversal': reversal.load_builder,
    'dates': dates.load_builder,
}


@registry.register
class SequenceBuilders(base.SourceKind):
  """The datasets of `_BUILDERS`, by their exact names."""

  names = tuple(_BUILDERS)

  def settings(self, config) -> str:
    return tfds_prepared.TfdsSettings.of(config).data_dir

  def open(self, dataset: str, split: str, *, role: str | None,
           settings: str) -> base.Source:
    del role  # tfds splits are named by the split string alone.
    return sequence_records.open_builder_split(
        _BUILDERS[dataset](settings), dataset, split)
