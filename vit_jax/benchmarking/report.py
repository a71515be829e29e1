"""Human-readable lines for benchmark results."""


def format_row(row: dict) -> str:
  """One line: speed, spread, memory and model FLOP/s of a benchmark row."""
  gib = 2**30
  return (f'{row["kind"]:>7}: {row["images_per_s"]:8.1f} images/s '
          f'(step median {row["step_s_median"] * 1e3:.1f} ms, min '
          f'{row["step_s_min"] * 1e3:.1f}, max {row["step_s_max"] * 1e3:.1f}; '
          f'batch {row["batch"]}, {row["tokens"]} tokens), compile '
          f'{row["compile_s"]:.1f} s, XLA memory '
          f'{row["xla_memory_bytes"] / gib:.2f} GiB, step RSS '
          f'+{(row["step_rss_bytes"] or 0) / gib:.2f} GiB, peak RSS '
          f'{row["peak_rss_bytes"] / gib:.2f} GiB, '
          f'{row["model_flops_per_s"] / 1e9:.1f} model GFLOP/s = '
          f'{row["model_flops_per_s"] / row["matmul_flops_per_s"]:.0%} of '
          f'matmul peak {row["matmul_flops_per_s"] / 1e9:.0f}')
