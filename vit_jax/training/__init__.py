"""The trainer: config checks, mesh, optimizer, state, steps, checkpoints, logs."""
