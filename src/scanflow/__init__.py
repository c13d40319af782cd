"""Scanflow: define, run, track, supervise and debug ML workflows."""
__version__ = "0.1.0"
