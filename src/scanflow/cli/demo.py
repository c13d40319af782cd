"""``scanflow demo``: the whole loop on the embedded default, in a few minutes on 2 cores.

    scanflow demo [--example mnist|tabular] [--human] [--output DIR] [--quick] [--state-dir DIR]
                  [--shift fog --shift impulse_noise] [--keep-open] [--mlflow-ui] [--port 0]

Trains the example's model (cached after the first run), serves it, starts the agents and
streams clean data, then each shift until the agents have adapted to it, then clean data again.
The agents detect each shift (one drift episode per shift), ask for a few labels (the
ground-truth oracle answers, or you in the browser with ``--human``), improve, gate, promote and
settle. Ends with tables and, with ``--output DIR``, ``report.html`` (plots inline), ``report.md``,
the SVG plots and ``summary.json``.
Register with :func:`register`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from scanflow.demo import DemoError, DemoSettings, run_demo
from scanflow.demo.examples import EXAMPLES
from scanflow.demo.ui import RichUI

from .common import console, err, fail
from .exits import INTERRUPTED, PROBLEM


def demo(
    human: Annotated[bool, typer.Option("--human", help="label in the browser yourself instead of the oracle")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="DIR", help="folder for report.html (plots inline), report.md, the SVG plots and summary.json")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="smaller model and stream (CI: ~1-2 minutes)")] = False,
    state_dir: Annotated[Path | None, typer.Option(metavar="DIR", help="state folder [default: $SCANFLOW_HOME, else .scanflow/demo here (.scanflow/demo-tabular for --example tabular)]")] = None,
    example: Annotated[str, typer.Option(help="mnist (digits) or tabular (a table of image-region measurements)")] = "mnist",
    shift: Annotated[list[str] | None, typer.Option(help="MNIST-C corruption of a shift phase (repeat for several; default: fog, impulse_noise)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the stream")] = 0,
    port: Annotated[int, typer.Option(help="port of the API and dashboard (0: a free one)")] = 0,
    keep_open: Annotated[bool, typer.Option("--keep-open", help="keep serving after the summary, until Ctrl+C")] = False,
    mlflow_ui: Annotated[bool, typer.Option("--mlflow-ui", help="also start the MLflow UI for the run")] = False,
) -> None:
    """Train, serve, stream shifting data and let the agents close the loop."""
    # lazy: scanflow.datasets loads SciPy, which the other commands skip
    from scanflow.datasets import CORRUPTIONS

    if example not in EXAMPLES:
        fail(f"--example {example!r} is not one of: {', '.join(EXAMPLES)}")
    for name in shift or []:
        if name not in CORRUPTIONS:
            fail(f"--shift {name!r} is not one of: {', '.join(CORRUPTIONS)}")
    for name in ("mlflow", "alembic", "scanflow.agents", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)

    settings = DemoSettings.preset(quick=quick, human=human, output=output, state_dir=state_dir,
                                   example=example, shifts=shift or None, seed=seed, port=port,
                                   keep_open=keep_open or None, mlflow_ui=mlflow_ui or None)
    ui = RichUI(console)
    if human:
        console.print("[bold]--human[/]: open the labeling UI printed below and label what the "
                      "improver asks for; each finished round starts an improvement.")
    try:
        summary = run_demo(settings, ui)
    except DemoError as exc:
        fail(f"the demo failed: {exc}", PROBLEM)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(INTERRUPTED) from None
    if not summary["promoted"]:
        console.print("[yellow]no model was promoted during the stream[/]: see the decisions above "
                      "and the report for why")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root command."""
    app.command("demo")(demo)
