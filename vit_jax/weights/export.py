r"""Writes a run's parameters as a VT-format .npz file.

  python -m vit_jax.weights.export --workdir=runs/digits_full \
      --out=/tmp/digits_full.npz

The latest readable checkpoint of the run (read-only: also of a running run)
becomes a flat .npz with VT's key names in the loop layout
(`Transformer/encoderblock_{i}/...`, see vt_npz), which VT's and big_vision's
loaders and timm's `_load_weights` read; `config.init_from=OUT` loads it back
here. A run of any mesh exports on this machine.
"""

from absl import app
from absl import flags

from vit_jax import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run to export.')
_OUT = flags.DEFINE_string('out', None, 'The .npz file to write.')
flags.mark_flags_as_required(['workdir', 'out'])


def export(workdir: str, out: str) -> str:
  """Writes `workdir`'s latest parameters to `out`; returns a summary line.

  Raises:
    ConfigError: no run or checkpoint in `workdir`.
    WriteError: `out` cannot be written.
  """
  from vit_jax.training import train_state  # Late: flag errors stay fast.
  from vit_jax.weights import sources
  from vit_jax.weights import vt_npz
  loaded = sources.load_run(workdir)
  count = vt_npz.write(out, loaded.params)
  return (f'exported step {loaded.step} of {workdir}: {count} arrays, '
          f'{train_state.count_params(loaded.params):,} parameters -> {out}')


def main(argv):
  del argv
  cli.quiet_library_logs()
  with cli.user_errors_exit():
    print(export(_WORKDIR.value, _OUT.value), flush=True)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
