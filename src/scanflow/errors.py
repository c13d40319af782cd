"""The root of Scanflow's exceptions: every error the project raises on purpose derives from
:class:`ScanflowError`, so ``except ScanflowError`` catches all of them and nothing else.

Most also derive from the built-in class that says what kind of problem it is
(``ValueError`` for bad input, ``LookupError`` for something missing), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = ["ScanflowError"]


class ScanflowError(Exception):
    """Base class of every exception Scanflow raises on purpose."""
