"""Measuring speed, memory and FLOPs of configs (benchmarks, not tests)."""
