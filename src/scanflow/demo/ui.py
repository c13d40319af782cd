"""How the demo shows its progress: Rich in a terminal (:class:`RichUI`), nothing in tests."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["QuietUI", "RichUI"]


class QuietUI:
    """Shows nothing (Python callers, tests)."""

    def phase(self, name: str, text: str) -> None: ...
    def info(self, text: str) -> None: ...
    def run_event(self, event: Any) -> None: ...
    def urls(self, **urls: str | None) -> None: ...
    def start_stream(self, total: int) -> None: ...
    def stream_progress(self, log, runtime, stack) -> None: ...
    def end_stream(self) -> None: ...
    def summary(self, summary: dict[str, Any]) -> None: ...


class RichUI(QuietUI):
    """Phases, node events, a progress bar over the stream, agent decisions as they happen, and
    the final table."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console()
        self._progress = None
        self._task = None
        self._seen_decisions = 0
        self._t0 = time.time()

    def _t(self) -> str:
        return f"[dim]{time.time() - self._t0:6.1f}s[/]"

    def phase(self, name: str, text: str) -> None:
        self.console.rule(f"[bold]{name}[/]")
        self.console.print(f"{self._t()} {text}")

    def info(self, text: str) -> None:
        self.console.print(f"{self._t()} {text}")

    def run_event(self, event: Any) -> None:
        if event.kind == "start":
            self.console.print(f"{self._t()}   [yellow]▶[/] {event.node}")
        elif event.kind == "finish":
            colour = "green" if event.status in ("succeeded", "cached", "reused") else "red"
            self.console.print(f"{self._t()}   [{colour}]■[/] {event.node} {event.status} "
                               f"({event.duration:.1f}s)")

    def urls(self, **urls: str | None) -> None:
        from rich.table import Table

        table = Table(show_header=False, box=None, padding=(0, 1))
        labels = {"dashboard": "Dashboard", "labeling": "Labeling UI", "api_docs": "API docs",
                  "mlflow": "MLflow UI", "mlflow_cmd": "MLflow UI (run)"}
        for key, label in labels.items():
            if urls.get(key):
                table.add_row(f"[bold]{label}[/]", f"[cyan]{urls[key]}[/]")
        self.console.print(table)

    def start_stream(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(TextColumn("[bold]stream[/]"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                  console=self.console, transient=False)
        self._task = self._progress.add_task("stream", total=total, status="")
        self._progress.start()

    def stream_progress(self, log, runtime, stack) -> None:
        batches = log.snapshot()
        if not batches or self._progress is None:
            return
        last = batches[-1]
        labels = stack.labels.progress()
        status = (f"v{last.version} · {'corrupted' if last.corrupted.all() else 'clean'} · "
                  f"acc {100 * (last.y_pred == last.y_true).mean():.0f}% · "
                  f"flagged {100 * last.outliers.mean():.0f}% · labels {labels['labeled']}"
                  f"/{labels['labeled'] + labels['pending']}")
        self._progress.update(self._task, completed=last.end, status=status)
        history = runtime.history(limit=200)
        for d in history[self._seen_decisions:] if len(history) >= self._seen_decisions else history:
            if d["decision"] != "normal":
                self._progress.console.print(
                    f"{self._t()} [magenta]{d['agent']}[/] → [bold]{d['decision']}[/]: {d['reason']}")
        self._seen_decisions = len(history)

    def end_stream(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary(self, s: dict[str, Any]) -> None:
        from rich.table import Table

        def pct(x):
            return "n/a" if x is None else f"{100 * x:.1f}%"

        r = s["reaction"]

        def at(key):
            v = r.get(key)
            if not v:
                return "—"
            secs = v.get("seconds_after_onset")
            return f"sample {v['sample']}" + ("" if secs is None else f" (+{secs:.1f}s)")

        self.console.rule("[bold]summary[/]")
        table = Table(title=f"Scanflow demo ({s['mode']}, {s['labeler']} labels, {s['corruption']})")
        table.add_column("")
        table.add_column("value", justify="right")
        table.add_row(f"accuracy on corrupted digits, before (v{s['baseline_version']})",
                      pct(s["accuracy_before"]))
        table.add_row(f"accuracy on corrupted digits, after (v{s['champion_version']})",
                      f"[bold green]{pct(s['accuracy_after'])}[/]" if s["promoted"] else pct(s["accuracy_after"]))
        table.add_row("accuracy on clean digits, before", pct(s["clean_accuracy_before"]))
        table.add_row("drift onset", f"sample {s['drift_onset_sample']}")
        table.add_row("drift detected", at("drift_detected"))
        table.add_row("label request", at("label_request"))
        table.add_row("promotion", at("promotion"))
        table.add_row("labels used", str(s["labels_used"]))
        table.add_row("promoted", "[green]yes[/]" if s["promoted"] else "[red]no[/]")
        table.add_row("duration", f"{s['duration_seconds']:.0f} s")
        self.console.print(table)

        decisions = Table(title="What each agent decided, and why")
        decisions.add_column("t (s)", justify="right")
        decisions.add_column("agent")
        decisions.add_column("decision")
        decisions.add_column("reason", overflow="fold")
        for d in [d for d in s["decisions"] if d["decision"] != "normal"][:30]:
            decisions.add_row(f"{d['time']:.1f}", d["agent"], d["decision"], d["reason"])
        self.console.print(decisions)
        files = s.get("files") or {}
        if files:
            self.console.print(f"report: [cyan]{files.get('report')}[/]   summary: [cyan]{files.get('summary')}[/]")
        self.console.print(f"MLflow UI: [cyan]mlflow ui --backend-store-uri {s['tracking_uri']}[/]")
