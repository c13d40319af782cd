"""The ``scanflow`` command (Typer + Rich). Each room's commands live in their own module."""

from __future__ import annotations

import typer

from .run import register as _register_run

app = typer.Typer(
    name="scanflow",
    help="Define, run, track, supervise and debug machine-learning workflows.",
    no_args_is_help=True,
    add_completion=False,
)
_register_run(app)


def main() -> None:
    app()
