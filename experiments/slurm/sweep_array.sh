#!/usr/bin/env bash
# Fans a sweep out as a Slurm job array: one array task per sweep point.
#
#   experiments/slurm/sweep_array.sh CONFIG WORKDIR [sbatch options ...]
#   # when the jobs are done, collect results and plots locally:
#   .venv/bin/python launch.py --config=CONFIG --workdir=WORKDIR
#
# Writes every point's config and WORKDIR/commands.txt (`launch.py
# --sweep_commands`, one `python -m vit_jax.sweeps.point_job ...` per line),
# then submits `sbatch --array=0-(N-1)` of a job script that runs line
# SLURM_ARRAY_TASK_ID + 1. Extra arguments go to sbatch (e.g. --wait,
# --partition=..., --gres=gpu:1, --time=...). Each task's output is
# WORKDIR/slurm-<job>_<task>.out; a point's own log and result.json are in
# WORKDIR/<point>/. Expected: prints "Submitted batch job N" in a second.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG WORKDIR [sbatch options ...]" >&2
  exit 2
fi
CONFIG=$1
WORKDIR=$2
shift 2
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$WORKDIR"
"$PYTHON" launch.py --config="$CONFIG" --workdir="$WORKDIR" --sweep_commands \
  | grep 'vit_jax.sweeps.point_job' > "$WORKDIR/commands.txt"
N=$(wc -l < "$WORKDIR/commands.txt")
cat > "$WORKDIR/array_task.sh" <<JOBEOF
#!/usr/bin/env bash
# One sweep point: line SLURM_ARRAY_TASK_ID + 1 of commands.txt.
set -euo pipefail
exec bash -c "\$(sed -n "\$((SLURM_ARRAY_TASK_ID + 1))p" "$WORKDIR/commands.txt")"
JOBEOF
chmod +x "$WORKDIR/array_task.sh"
sbatch --array=0-$((N - 1)) --output="$WORKDIR/slurm-%A_%a.out" "$@" \
  "$WORKDIR/array_task.sh"
