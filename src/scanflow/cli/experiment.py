"""``scanflow experiment``: the MNIST-C human-in-the-loop experiment, end to end.

    scanflow experiment mnist-c --quick --output out/     the smoke test (~1 min), report in out/
    scanflow experiment mnist-c --seeds 3 --output out/   the full grid (budgets 20-200)
    scanflow experiment mnist-c --human --output out/     one round labeled by you in the browser

Train the base CNN on clean MNIST, stream corrupted digits, detect, select, label (the oracle
by default, every report says so; ``--human`` opens the labeling UI), improve, gate, promote.
With ``--output`` it writes ``results.json``, ``report.md``, ``report.html`` and plots.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scanflow.improve.labelers import store_labeler_factory
from scanflow.improve.labels import LabelStore
from scanflow.improve.report import grid_table, headline, per_corruption_table, write_report
from scanflow.improve.selection import SELECTORS

__all__ = ["app", "mnist_c"]

app = typer.Typer(help="Run the MNIST-C human-in-the-loop experiment end to end.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Run the MNIST-C human-in-the-loop experiment end to end."""


def _serve_labeling(store, host: str, port: int):
    """Serve the labeling UI of ``store`` in a daemon thread; wait (up to 10 s) until it is up."""
    import uvicorn  # lazy: only --human serves

    from scanflow.serve.labeling import create_labeling_app  # lazy: loads FastAPI

    config = uvicorn.Config(
        create_labeling_app(store, title="Scanflow MNIST-C labeling"),
        host=host,
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    return server, thread


@dataclass
class _LabelingUI:
    """The labeling UI of a ``--human`` run: its label store, server and address."""

    store: LabelStore
    server: Any
    url: str
    timeout: float | None  # seconds to wait for the labels (None: forever)

    @classmethod
    def open(cls, state_dir: Path, port: int, timeout: float | None) -> _LabelingUI:
        """Open the label store under the state folder and serve its UI in the background."""
        state_dir.mkdir(parents=True, exist_ok=True)
        store = LabelStore(state_dir / "labels.db")
        server, _ = _serve_labeling(store, "127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/"
        console.print(f"[bold]Labeling UI:[/bold] {url}  (label the digits there; the run waits)")
        return cls(store, server, url, timeout)

    def labeler_factory(self):
        """Labelers that queue each seed's picks in the store and wait for people's answers."""
        return store_labeler_factory(self.store, timeout=self.timeout, on_progress=self._progress)

    def _progress(self, p: dict[str, Any]) -> None:
        console.print(
            f"labels: {p['labeled']} labeled, {p['skipped']} skipped, "
            f"{p['pending']} to go  ({self.url})"
        )

    def close(self) -> None:
        self.server.should_exit = True


@app.command("mnist-c")
def mnist_c(
    quick: Annotated[bool, typer.Option("--quick", help="the smoke test: every stage once on less data (~1 minute)")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="DIR", help="write the report (HTML, Markdown, plots, results.json) here")] = None,
    human: Annotated[bool, typer.Option("--human", help="label in the browser instead of the oracle (one round)")] = False,
    seeds: Annotated[int | None, typer.Option("--seeds", min=1, help="number of seeds (default 3; quick 1)")] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", metavar="DIR", help="state folder: cache and MLflow store [default: OUTPUT/state or .scanflow/experiments/mnist-c]")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch threads [default: 1 with --quick, else torch's]")] = None,
    budget: Annotated[int, typer.Option("--budget", min=1, help="labels to ask for with --human")] = 30,
    selection: Annotated[str, typer.Option("--selection", help="selection strategy with --human")] = "kcenter",
    strategy: Annotated[str, typer.Option("--strategy", help="improvement strategy with --human")] = "denoiser",
    port: Annotated[int, typer.Option("--port", help="labeling UI port with --human")] = 8766,
    label_timeout: Annotated[float | None, typer.Option("--label-timeout", help="seconds to wait for labels with --human")] = None,
    budgets: Annotated[str | None, typer.Option("--budgets", help="comma-separated label budgets, e.g. 20,50,100,200")] = None,
    selections: Annotated[str | None, typer.Option("--selections", help="comma-separated selection strategies")] = None,
    strategies: Annotated[str | None, typer.Option("--strategies", help="comma-separated improvement strategies")] = None,
    state: Annotated[Path | None, typer.Option("--state", hidden=True, help="deprecated: --state-dir")] = None,
) -> None:
    """Train on clean MNIST, stream MNIST-C, detect, select, label, improve, gate, promote."""
    from scanflow.improve.experiment import ExperimentConfig  # lazy: loads SciPy and the datasets

    try:
        cfg = ExperimentConfig.from_options(
            quick=quick,
            seeds=seeds,
            threads=threads,
            budgets=_budget_list(budgets),
            selections=_name_list(selections),
            strategies=_name_list(strategies),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    state_dir = state_dir or state or ((output / "state") if output else Path(".scanflow/experiments/mnist-c"))
    ui = None
    if human:
        _check_human_choices(selection, strategy)
        cfg.use_human_round(selection, strategy, budget)
        ui = _LabelingUI.open(state_dir, port, label_timeout)
    results = _run(cfg, state_dir, ui)
    _print_results(results, write_report(results, output) if output else {})


def _budget_list(text: str | None) -> list[int] | None:
    """``--budgets 20,50,100`` as integers (None when not given)."""
    if not text:
        return None
    try:
        return [int(b) for b in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give integers like 20,50,100", param_hint="--budgets"
        ) from None


def _name_list(text: str | None) -> list[str] | None:
    """A comma-separated option as names (None when not given)."""
    return [s.strip() for s in text.split(",")] if text else None


def _check_human_choices(selection: str, strategy: str) -> None:
    """Refuse a ``--selection`` or ``--strategy`` that is not registered."""
    from scanflow.improve.strategies import STRATEGIES  # lazy: strategies import torch

    if selection not in SELECTORS:
        raise typer.BadParameter(f"choose one of {list(SELECTORS)}", param_hint="--selection")
    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"choose one of {list(STRATEGIES)}", param_hint="--strategy")


def _run(cfg, state_dir: Path, ui: _LabelingUI | None) -> dict[str, Any]:
    """Run the experiment, printing progress with the time spent; stop the labeling UI after."""
    from scanflow.improve.experiment import run_experiment  # lazy: loads SciPy and the datasets

    labeler_factory = None if ui is None else ui.labeler_factory()
    t0 = time.perf_counter()
    try:
        return run_experiment(
            cfg,
            state_dir,
            labeler_factory=labeler_factory,
            progress=lambda m: console.print(f"[dim]{time.perf_counter() - t0:6.0f}s[/dim] {m}"),
        )
    finally:
        if ui is not None:
            ui.close()


def _print_results(results: dict[str, Any], report: dict[str, Any]) -> None:
    """The headline and tables; then the report's files, or the key numbers as JSON."""
    typer.echo(headline(results))
    typer.echo("")
    typer.echo(grid_table(results))
    typer.echo("")
    typer.echo(per_corruption_table(results))
    if report:
        typer.echo(f"\nreport: {report['html']}  {report['markdown']}  {report['results']}")
    else:
        keys = (
            "base_clean_accuracy",
            "base_corrupted_accuracy",
            "improved_clean_accuracy",
            "improved_corrupted_accuracy",
            "labels_used",
            "selection",
            "strategy",
            "labeler",
        )
        typer.echo(json.dumps({k: results.get(k) for k in keys}))
