"""The command line's exit codes, and the guard that turns an escaped exception into one.

==== =====================================================================================
code meaning
==== =====================================================================================
0    success
1    the input is wrong or the work failed: an invalid application spec (every problem is
     printed, one a line), a failed run, a Scanflow error the message explains
2    usage: a bad option or argument, a file that does not exist
70   internal error: an unexpected exception, a bug in Scanflow (one line; the traceback
     with ``SCANFLOW_DEBUG=1``)
130  interrupted (Ctrl-C) or cancelled
==== =====================================================================================
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from ..errors import ScanflowError

__all__ = ["INTERNAL_ERROR", "INTERRUPTED", "PROBLEM", "USAGE", "run_guarded"]

PROBLEM, USAGE, INTERNAL_ERROR, INTERRUPTED = 1, 2, 70, 130
DEBUG_ENV = "SCANFLOW_DEBUG"


def run_guarded(command: Callable[..., object], argv: list[str] | None = None) -> int:
    """Run a Typer/Click ``command`` and return its exit code, never a traceback unless asked."""
    err = Console(stderr=True)
    try:
        command(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else PROBLEM)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        return INTERRUPTED
    except ScanflowError as exc:
        from ..app import SpecError  # lazy: the spec loads pydantic; a SpecError loaded it already

        if isinstance(exc, SpecError):
            err.print(f"[red]✘ {len(exc.problems)} problem{'s' * (len(exc.problems) != 1)} in the application:[/red]")
            for problem in exc.problems:
                err.print(f"  {escape(str(problem))}", highlight=False)
            return PROBLEM
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        return PROBLEM
    except Exception as exc:  # the one place a bug is caught: reported as one, with code 70
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        err.print(f"[red]internal error:[/red] {escape(type(exc).__name__)}: {escape(str(exc)[:500])}\n"
                  f"  This is a bug in Scanflow, not in your input. Run again with {DEBUG_ENV}=1 for "
                  "the traceback and report it.", highlight=False)
        return INTERNAL_ERROR
    return 0
