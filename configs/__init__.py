"""Experiment configs: `python launch.py --config=configs/<file>.py:<arg>`."""
