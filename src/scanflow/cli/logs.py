"""``-v/--verbose`` and ``--log-level``: Python logging through Rich, on stderr.

Quiet by default (warnings and errors); ``-v`` shows Scanflow's INFO messages, ``-vv`` DEBUG;
``--log-level`` sets the level by name and wins over ``-v``. The chatty libraries underneath
(MLflow, Alembic, httpx) stay at WARNING unless the level is DEBUG.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from rich.console import Console
from rich.logging import RichHandler

__all__ = ["Level", "level_for", "setup_logging"]


class Level(StrEnum):
    """The names ``--log-level`` takes."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


_CHATTY = ("mlflow", "alembic", "httpx", "urllib3")


def level_for(verbose: int, log_level: str | None) -> int:
    """The logging level of ``-v`` repeated ``verbose`` times, or of ``--log-level``."""
    if log_level:
        return getattr(logging, log_level.upper())
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def setup_logging(level: int) -> None:
    """Send every log record at ``level`` and above to stderr through Rich (once per process)."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, RichHandler)]
    root.addHandler(RichHandler(console=Console(stderr=True), show_path=False,
                                rich_tracebacks=False, markup=False))
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
