"""Sweeps: a config declares points; each runs in its own subprocess."""
