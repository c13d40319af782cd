"""The version of Scanflow (one place; ``scanflow.__version__`` re-exports it)."""

__version__ = "0.1.0"
