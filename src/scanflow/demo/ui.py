"""How the demo shows its progress: Rich in a terminal (:class:`RichUI`), nothing in tests."""

from __future__ import annotations

import time
from typing import Any

from .summary import notable_decisions

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
        # lazy: rich, only RichUI (the CLI) needs it; the demo's nodes import this package
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
        # lazy: rich, only RichUI needs it
        from rich.table import Table

        table = Table(show_header=False, box=None, padding=(0, 1))
        labels = {"dashboard": "Dashboard", "labeling": "Labeling UI", "api_docs": "API docs",
                  "mlflow": "MLflow UI", "mlflow_cmd": "MLflow UI (run)"}
        for key, label in labels.items():
            if urls.get(key):
                table.add_row(f"[bold]{label}[/]", f"[cyan]{urls[key]}[/]")
        self.console.print(table)

    def start_stream(self, total: int | None) -> None:
        # lazy: rich, only RichUI needs it
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("[bold]stream[/] {task.completed} samples"), BarColumn(),
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
        status = (f"{last.phase} · v{last.version} · acc {100 * last.correct.mean():.0f}% · "
                  f"flagged {100 * last.outliers.mean():.0f}% · labels answered {labels['labeled']}"
                  f"/{labels['total']} asked")
        self._progress.update(self._task, completed=last.end, status=status)
        history = runtime.history(limit=300)
        new = history[: max(0, len(history) - self._seen_decisions)]
        for d in reversed(new):
            if d["decision"] not in ("normal", "wait", "observe"):
                self._progress.console.print(
                    f"{self._t()} [magenta]{d['agent']}[/] → [bold]{d['decision']}[/]: {d['reason']}")
        self._seen_decisions = len(history)

    def end_stream(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def summary(self, s: dict[str, Any]) -> None:
        # lazy: rich, only RichUI needs it
        from rich.table import Table

        def pct(x):
            return "n/a" if x is None else f"{100 * x:.1f}%"

        self.console.rule("[bold]summary[/]")
        lab = s["labels"]
        self.console.print(f"[bold]labels answered: {lab['answered']}[/] (people {lab['human']}, "
                           f"oracle {lab['oracle']}; asked {lab['requested']}, skipped {lab['skipped']})")
        phases = Table(title=f"Scanflow demo — {s['example']} ({s['mode']}, {s['labeler']} labels)")
        for col in ("phase", "accuracy before", "after", "promoted", "alarms", "label requests"):
            phases.add_column(col, justify="left" if col == "phase" else "right")
        for p in s["phases"]:
            phases.add_row(p["name"], pct(p["accuracy_before"]),
                           f"[bold green]{pct(p['accuracy_after'])}[/]" if p["promotions"] else "—",
                           ", ".join("v" + v for v in p["promotions"]) or "—",
                           str(p["alarms"]), str(p["label_requests"]))
        self.console.print(phases)
        episodes = Table(title="Drift episodes")
        for col in ("episode", "shift", "status", "answered", "trained on", "held out",
                    "onset → promotion"):
            episodes.add_column(col)
        for e in s["episodes"]:
            promo = e["promotions"][0] if e["promotions"] else None
            episodes.add_row(str(e["id"]), str(e["phase"]), e["status"], str(e["labels"]["answered"]),
                             str(e["labels"]["trained_on"]), str(e["labels"]["held_out"]),
                             f"{e['samples_onset_to_promotion']} samples (+{promo['seconds_after_onset']}s)"
                             if promo else "—")
        self.console.print(episodes)
        self._decisions(s)
        files = s.get("files") or {}
        if files:
            self.console.print(f"report: [cyan]{files.get('html')}[/]   summary: [cyan]{files.get('summary')}[/]")
        self.console.print(f"MLflow UI: [cyan]mlflow ui --backend-store-uri {s['tracking_uri']}[/]")
        self.console.print(f"serve it again: [cyan]{s['serve_command']}[/]")

    def _decisions(self, s: dict[str, Any]) -> None:
        # lazy: rich, only RichUI needs it
        from rich.table import Table

        decisions = Table(title="What each agent decided, and why")
        decisions.add_column("t (s)", justify="right")
        decisions.add_column("agent")
        decisions.add_column("decision")
        decisions.add_column("reason", overflow="fold")
        for d in notable_decisions(s["decisions"])[:40]:
            what = d["decision"] + (f" ×{d['count']}" if d["count"] > 1 else "")
            decisions.add_row(f"{d['time']:.1f}", d["agent"], what, d["reason"])
        self.console.print(decisions)
