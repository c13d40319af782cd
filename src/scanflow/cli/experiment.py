"""``scanflow experiment``: the paper's experiments, end to end.

    scanflow experiment mnist-c --quick --output out/     a cut grid (~2 min), report in out/
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
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

app = typer.Typer(help="Run the paper's experiments end to end.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Run the paper's experiments end to end."""


class StoreLabeler:
    """Labels through the label store: queue the samples, wait until people label them.

    ``label(indices)`` enqueues ``X[indices]`` as one batch (with the model's guesses and the
    selection order as scores) and blocks until every sample is labeled or skipped (skipped
    samples come back as ``-1``), polling every ``poll`` seconds; ``timeout`` (seconds, None:
    wait forever) raises ``TimeoutError`` with what was labeled so far kept in the store.
    """

    def __init__(
        self,
        store,
        X,
        *,
        guesses=None,
        batch_prefix: str = "mnist-c",
        poll: float = 1.0,
        timeout: float | None = None,
        on_progress=None,
    ):
        self.store = store
        self.X = np.asarray(X)
        self.guesses = guesses
        self.batch_prefix = batch_prefix
        self.poll = poll
        self.timeout = timeout
        self.on_progress = on_progress
        self.batch_: str | None = None

    def label(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        batch = f"{self.batch_prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.batch_ = batch
        guesses = None if self.guesses is None else [int(self.guesses[i]) for i in idx]
        self.store.enqueue(
            self.X[idx],
            batch=batch,
            meta=[{"index": int(i)} for i in idx],
            model_guess=guesses,
            scores=list(range(len(idx), 0, -1)),
        )
        start, last = time.monotonic(), None
        while True:
            prog = self.store.progress(batch)
            if prog != last and self.on_progress is not None:
                self.on_progress(prog)
            last = prog
            if prog["pending"] == 0:
                break
            if self.timeout is not None and time.monotonic() - start > self.timeout:
                raise TimeoutError(
                    f"labeling batch {batch!r}: {prog['labeled']} of {prog['total']} labeled "
                    f"after {self.timeout:.0f} s; the labels are kept in the store"
                )
            time.sleep(self.poll)
        labels = {
            int(it.meta["index"]): (it.label if it.status == "labeled" else -1)
            for it in self.store.items_of(batch)
        }
        return np.array([labels[int(i)] for i in idx], dtype=np.int64)


def _serve_labeling(store, host: str, port: int):
    import uvicorn

    from scanflow.serve.labeling import create_labeling_app

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


@app.command("mnist-c")
def mnist_c(
    quick: Annotated[bool, typer.Option("--quick", help="a cut grid for CI (~2 minutes)")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="write the report (HTML, Markdown, plots, results.json) here"
        ),
    ] = None,
    human: Annotated[
        bool, typer.Option("--human", help="label in the browser instead of the oracle (one round)")
    ] = False,
    seeds: Annotated[
        int | None, typer.Option("--seeds", min=1, help="number of seeds (default 3; quick 1)")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="cache and MLflow store [default: OUTPUT/state or .scanflow/experiments/mnist-c]",
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch threads")] = None,
    budget: Annotated[
        int, typer.Option("--budget", min=1, help="labels to ask for with --human")
    ] = 30,
    selection: Annotated[
        str, typer.Option("--selection", help="selection strategy with --human")
    ] = "kcenter",
    strategy: Annotated[
        str, typer.Option("--strategy", help="improvement strategy with --human")
    ] = "denoiser",
    port: Annotated[int, typer.Option("--port", help="labeling UI port with --human")] = 8766,
    label_timeout: Annotated[
        float | None,
        typer.Option("--label-timeout", help="seconds to wait for labels with --human"),
    ] = None,
    budgets: Annotated[
        str | None,
        typer.Option("--budgets", help="comma-separated label budgets, e.g. 20,50,100,200"),
    ] = None,
    selections: Annotated[
        str | None, typer.Option("--selections", help="comma-separated selection strategies")
    ] = None,
    strategies: Annotated[
        str | None, typer.Option("--strategies", help="comma-separated improvement strategies")
    ] = None,
) -> None:
    """Train on clean MNIST, stream MNIST-C, detect, select, label, improve, gate, promote."""
    from scanflow.improve.experiment import ExperimentConfig, run_experiment
    from scanflow.improve.report import grid_table, headline, per_corruption_table, write_report

    cfg = ExperimentConfig.quick_config() if quick else ExperimentConfig()
    if seeds:
        cfg.seeds = list(range(seeds))
    cfg.threads = threads
    if budgets:
        try:
            cfg.budgets = [int(b) for b in budgets.split(",")]
        except ValueError:
            raise typer.BadParameter(
                f"{budgets!r}: give integers like 20,50,100", param_hint="--budgets"
            ) from None
        cfg.best_budget = (
            max(b for b in cfg.budgets if b <= 100) if min(cfg.budgets) <= 100 else min(cfg.budgets)
        )
    if selections:
        cfg.selections = [s.strip() for s in selections.split(",")]
    if strategies:
        cfg.strategies = [s.strip() for s in strategies.split(",")]
    try:
        cfg.validate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    state_dir = state or ((output / "state") if output else Path(".scanflow/experiments/mnist-c"))
    labeler_factory = None
    server = None
    if human:
        from scanflow.improve.classifier import predict
        from scanflow.improve.labels import LabelStore
        from scanflow.improve.selection import SELECTORS
        from scanflow.improve.strategies import STRATEGIES

        if selection not in SELECTORS:
            raise typer.BadParameter(f"choose one of {list(SELECTORS)}", param_hint="--selection")
        if strategy not in STRATEGIES:
            raise typer.BadParameter(f"choose one of {list(STRATEGIES)}", param_hint="--strategy")
        cfg.seeds = cfg.seeds[:1]
        cfg.selections, cfg.strategies = [selection], [strategy]
        cfg.budgets, cfg.best_budget = [budget], budget
        cfg.labeler = "human"
        state_dir.mkdir(parents=True, exist_ok=True)
        store = LabelStore(state_dir / "labels.db")
        server, _ = _serve_labeling(store, "127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/"
        console.print(f"[bold]Labeling UI:[/bold] {url}  (label the digits there; the run waits)")

        def factory(data, base):
            return StoreLabeler(
                store,
                data.X_pool,
                batch_prefix=f"mnist-c-seed{data.seed}",
                timeout=label_timeout,
                guesses=predict(base, data.X_pool),
                on_progress=lambda p: console.print(
                    f"labels: {p['labeled']} labeled, {p['skipped']} skipped, "
                    f"{p['pending']} to go  ({url})"
                ),
            )

        labeler_factory = factory

    t0 = time.perf_counter()
    try:
        results = run_experiment(
            cfg,
            state_dir,
            labeler_factory=labeler_factory,
            progress=lambda m: console.print(f"[dim]{time.perf_counter() - t0:6.0f}s[/dim] {m}"),
        )
    finally:
        if server is not None:
            server.should_exit = True
    out: dict[str, Any] = {}
    if output:
        out = write_report(results, output)
    typer.echo(headline(results))
    typer.echo("")
    typer.echo(grid_table(results))
    typer.echo("")
    typer.echo(per_corruption_table(results))
    if out:
        typer.echo(f"\nreport: {out['html']}  {out['markdown']}  {out['results']}")
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
