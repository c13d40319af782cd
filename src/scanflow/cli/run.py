"""``scanflow init | run | runs | wipe``: create, run and inspect applications.

    scanflow init DIR                                 scaffold a runnable example application
    scanflow run APP [--workflow NAME] [--resume RUN_ID] [--no-cache] [--max-parallel N]
    scanflow runs [APP]                               the runs of an application
    scanflow runs show RUN_ID [APP]                   one run, node by node
    scanflow wipe APP --yes                           delete the state folder (runs, cache, store)

APP is an application file (``scanflow.yaml`` or a Python file defining ``app``) or the folder
that holds one. Register the commands on the root Typer app with :func:`register`.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..app import find_app_file
from ..run import RunError, RunNotFound, Scheduler, find_run, find_run_under, get_backend, list_runs
from ..run.scheduler import STATE_MARKER
from .common import AppArg, StateDirOpt, console, fail, load_application
from .exits import INTERRUPTED, PROBLEM

STYLES = {
    "pending": ("·", "dim"), "queued": ("·", "dim"), "running": ("▶", "cyan"), "retrying": ("↻", "yellow"),
    "succeeded": ("✔", "green"), "cached": ("✔", "blue"), "reused": ("✔", "blue"),
    "failed": ("✘", "red"), "timeout": ("⏱", "red"), "cancelled": ("■", "yellow"),
    "skipped": ("–", "yellow"), "interrupted": ("■", "yellow"),
}


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- init ---------------------------------------------------------------------------------------

def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="folder to create (may exist if empty)")],
    force: Annotated[bool, typer.Option("--force", help="write into a non-empty folder")] = False,
) -> None:
    """Scaffold a runnable example application in DIR."""
    template = resources.files("scanflow") / "templates" / "basic"
    if directory.exists() and any(directory.iterdir()) and not force:
        fail(f"{directory} is not empty: choose a new folder or pass --force")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with resources.as_file(template) as src:
        for file in sorted(Path(src).rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                target = directory / file.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                written.append(target)
    console.print(f"[green]✔[/green] created {escape(str(directory))} ({len(written)} files)")
    for path in written:
        console.print(f"  {escape(str(path))}", highlight=False)
    console.print(f"\nNext: [bold]scanflow validate {escape(str(directory))}[/bold] then "
                  f"[bold]scanflow run {escape(str(directory))}[/bold]")


# -- run ----------------------------------------------------------------------------------------

class LiveProgress:
    """A live Rich table of the nodes of a run (or one line per event when not a terminal)."""

    def __init__(self, out: Console):
        self.out = out
        self.rows: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.live: Live | None = None
        self.run_id = ""

    def __call__(self, event) -> None:
        with self.lock:
            self.run_id = event.run_id or self.run_id
            if event.kind == "plan":
                for node in event.nodes:
                    self.rows.setdefault(node, {"status": "pending", "attempt": 0, "start": None, "duration": None,
                                                "message": ""})
            elif event.node is not None:
                row = self.rows.setdefault(event.node, {"status": "pending", "attempt": 0, "start": None,
                                                        "duration": None, "message": ""})
                if event.kind == "start":
                    row.update(status="running", attempt=1, start=time.time())
                elif event.kind == "retry":
                    row.update(status="retrying", attempt=event.attempt, message=event.message or "")
                elif event.kind == "finish":
                    row.update(status=event.status, duration=event.duration, message=event.message or "")
            if self.live is None:
                self._line(event)
            else:
                self.live.update(self.table())

    def _line(self, event) -> None:
        if event.kind == "start":
            self.out.print(f"▶ {event.node} started", highlight=False)
        elif event.kind == "retry":
            self.out.print(f"↻ {event.node} attempt {event.attempt}: {event.message}", highlight=False)
        elif event.kind == "finish":
            icon, style = STYLES.get(event.status, ("?", ""))
            extra = f" in {event.duration:.1f} s" if event.duration else ""
            self.out.print(f"[{style}]{icon} {event.node} {event.status}[/{style}]{extra}", highlight=False)
        elif event.kind == "cancel":
            self.out.print("[yellow]■ cancelling: stopping the running nodes[/yellow]")

    def table(self) -> Table:
        table = Table(title=f"run {self.run_id}", title_justify="left", expand=False)
        for column in ("", "node", "status", "attempt", "time"):
            table.add_column(column)
        for node, row in self.rows.items():
            icon, style = STYLES.get(row["status"], ("?", ""))
            if row["status"] in ("running", "retrying") and row["start"]:
                elapsed = f"{time.time() - row['start']:.1f} s"
            elif row["duration"] is not None and row["status"] not in ("pending", "queued"):
                elapsed = f"{row['duration']:.1f} s"
            else:
                elapsed = ""
            table.add_row(Text(icon, style=style), node, Text(row["status"], style=style),
                          str(row["attempt"] or ""), elapsed)
        return table

    def __enter__(self) -> LiveProgress:
        if self.out.is_terminal:
            self.live = Live(self.table(), console=self.out, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self.table())
            self.live.__exit__(*exc)
            self.live = None


def backend_of(state_dir: Path, backend: str | None, address: str | None,
               resume: str | None) -> tuple[str, str | None]:
    """``--backend`` and ``--address`` as given; when resuming without ``--backend``, the
    backend the run used and the Ray cluster it joined (so a Ray run resumes on its cluster)."""
    if backend is not None or not resume:
        return backend or "local", address
    try:
        old = find_run(state_dir, resume)
    except RunNotFound as exc:
        fail(str(exc))
    recorded = old.data.get("backend") or "local"
    if recorded != "ray":
        if address:
            fail(f"--address is for the ray backend, and run {old.run_id} ran on {recorded}: "
                 "add --backend ray to resume it on a Ray cluster")
        return recorded, None
    return recorded, address or old.data.get("backend_address")


def run(
    app_path: AppArg = ".",
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="run only this workflow")] = None,
    resume: Annotated[str | None, typer.Option("--resume", metavar="RUN_ID", help="re-run the failed and unfinished nodes of a run")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="run every node, even when its inputs are unchanged")] = False,
    max_parallel: Annotated[int | None, typer.Option("--max-parallel", "-j", min=1, help="nodes running at once")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="local or ray; default: local, or with --resume the backend (and Ray address) the run used")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster to join: HOST:PORT of its head from one of its machines, ray://HOST:10001 (Ray Client) from anywhere, or 'auto'; default: $RAY_ADDRESS, else a Ray started here")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="do not record the run in MLflow")] = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Run the workflows of an application (live progress; prints how to resume on failure)."""
    _quiet_mlflow()
    if address and backend not in (None, "ray"):
        fail(f"--address is for the ray backend: add --backend ray (got --backend {backend})")
    application = load_application(app_path, state_dir)
    backend, address = backend_of(application.state_path, backend, address, resume)
    try:
        scheduler = Scheduler(application, get_backend(backend, **({'address': address} if address else {})), use_cache=not no_cache,
                              max_parallel=max_parallel, track=not no_track, app_arg=app_path,
                              deferred_tracking=True)
        with LiveProgress(console) as progress:
            scheduler.progress = progress
            result = scheduler.run(workflow=workflow, resume=resume)
    except (RunError, RunNotFound, KeyError, ValueError) as exc:
        fail(exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc))
    counts: dict[str, int] = {}
    for node in result.nodes.values():
        counts[node.status] = counts.get(node.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    icon, style = STYLES.get(result.status, ("?", ""))
    console.print(f"[{style}]{icon} run {result.run_id} {result.status}[/{style}] in {result.duration:.1f} s ({summary})")
    for node in result.nodes.values():
        if node.status in ("failed", "timeout") and node.error:
            console.print(f"  [red]{escape(node.id)}[/red]: {escape(node.error)}", highlight=False)
            tail = _tail(node.stderr, 8)
            if tail:
                console.print(Text(tail, style="dim"))
            if node.stderr:
                console.print(f"  logs: {escape(str(node.stderr.parent))}", highlight=False)
    if result.tracking_uri and result.tracking_uri.startswith("sqlite:"):
        console.print(f"  MLflow UI: mlflow ui --backend-store-uri {result.tracking_uri}", highlight=False,
                      soft_wrap=True)
    if not result.ok:
        console.print(f"Resume with: [bold]{escape(result.resume_command or '')}[/bold]", highlight=False,
                      soft_wrap=True)
        raise typer.Exit(INTERRUPTED if result.status == "cancelled" else PROBLEM)


def _tail(path: Path | None, lines: int) -> str:
    if path is None or not path.is_file():
        return ""
    text = path.read_text(errors="replace").rstrip().splitlines()
    return "\n".join("    " + line for line in text[-lines:])


# -- runs ---------------------------------------------------------------------------------------

def runs(
    target: Annotated[str | None, typer.Argument(metavar="APP | show RUN_ID [APP]", help="an application, or `show` with a run id (a unique prefix is enough) and the application [default: the one here; else the run is looked for in the state folders below]")] = None,
    run_id: Annotated[str | None, typer.Argument(hidden=True)] = None,
    show_app: Annotated[str | None, typer.Argument(hidden=True)] = None,
    app_opt: Annotated[str | None, typer.Option("--app", hidden=True, help="deprecated: give the application as the last argument")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="newest runs to list")] = 20,
    state_dir: StateDirOpt = None,
) -> None:
    """List the runs of an application, or `runs show RUN_ID [APP]` for one run node by node."""
    if target == "show":
        if not run_id:
            fail("give the run to show: scanflow runs show RUN_ID [APP]")
        _show(show_app or app_opt, run_id, state_dir)
        return
    if run_id:
        fail(f"unexpected argument {run_id!r}: use `scanflow runs [APP]` or `scanflow runs show RUN_ID`")
    _list(load_application(target or app_opt or ".", state_dir), limit)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _list(application, limit: int) -> None:
    states = list_runs(application.state_path)
    if not states:
        console.print(f"no runs yet for {escape(application.name)} (state: {escape(str(application.state_path))})")
        return
    table = Table(title=f"runs of {application.name}", title_justify="left")
    table.add_column("run id", no_wrap=True, min_width=32)
    for column in ("workflow", "status", "started", "duration", "nodes"):
        table.add_column(column)
    for state in states[:limit]:
        data = state.data
        status = state.effective_status()
        _, style = STYLES.get(status, ("", ""))
        nodes = [n.get("status", "pending") for n in data.get("nodes", {}).values()]
        counts = {s: nodes.count(s) for s in dict.fromkeys(nodes)}
        duration = (data["finished_at"] - data["created_at"]) if data.get("finished_at") else None
        table.add_row(state.run_id, data.get("workflow") or "+".join(data.get("workflows", [])),
                      Text(status, style=style), _when(data.get("created_at")),
                      f"{duration:.1f} s" if duration is not None else "",
                      ", ".join(f"{n} {s}" for s, n in counts.items()))
    console.print(table)


def _find(app_path: str | None, run_id: str, state_dir: Path | None):
    """The run ``run_id`` of the application given or found here, else of any state folder
    below the current one."""
    here = app_path is None and state_dir is None
    if here:
        try:
            find_app_file(".")
        except FileNotFoundError:
            return find_run_under(Path.cwd(), run_id)
    return find_run(load_application(app_path or ".", state_dir).state_path, run_id)


def _show(app_path: str | None, run_id: str, state_dir: Path | None) -> None:
    try:
        state = _find(app_path, run_id, state_dir)
    except RunNotFound as exc:
        fail(exc)
    data = state.data
    status = state.effective_status()
    _, style = STYLES.get(status, ("", ""))
    console.print(f"run [bold]{state.run_id}[/bold] of {escape(data.get('app', ''))} "
                  f"({escape(data.get('workflow') or '+'.join(data.get('workflows', [])))}): "
                  f"[{style}]{status}[/{style}], started {_when(data.get('created_at'))}")
    mlflow_info = data.get("mlflow") or {}
    if mlflow_info:
        console.print(f"  MLflow: {escape(mlflow_info.get('tracking_uri', ''))} experiment "
                      f"{mlflow_info.get('experiment_id')} run {mlflow_info.get('run_id')}", highlight=False)
    console.print(f"  folder: {escape(str(state.folder))}", highlight=False)
    table = Table(title_justify="left")
    for column in ("", "node", "status", "attempts", "duration", "mlflow run", "error"):
        table.add_column(column)
    for node_id, node in data.get("nodes", {}).items():
        node_status = node.get("status", "pending")
        if node_status == "running" and status == "interrupted":
            node_status = "interrupted"
        icon, nstyle = STYLES.get(node_status, ("?", ""))
        duration = node.get("duration")
        table.add_row(Text(icon, style=nstyle), node_id, Text(node_status, style=nstyle), str(node.get("attempts") or ""),
                      f"{duration:.1f} s" if duration else "", (node.get("mlflow_run_id") or "")[:12],
                      Text(node.get("error") or "", style="red"))
    console.print(table)
    if status not in ("succeeded", "running"):
        arg = data.get("app_arg") or app_path or "."
        workflow_option = f" --workflow {data['workflow']}" if data.get("workflow") else ""
        console.print(f"Resume with: [bold]scanflow run {escape(arg)}{escape(workflow_option)} --resume {state.run_id}[/bold]",
                      highlight=False, soft_wrap=True)


# -- wipe ---------------------------------------------------------------------------------------

def wipe(
    app_path: AppArg = ".",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="really delete (required)")] = False,
    state_dir: StateDirOpt = None,
) -> None:
    """Delete the application's state folder: runs, logs, cache, isolated envs, local MLflow store."""
    application = load_application(app_path, state_dir)
    state = application.state_path
    if not state.exists():
        console.print(f"nothing to wipe: {escape(str(state))} does not exist")
        return
    known = {"runs", "cache", "envs", "mlflow.db", "mlartifacts", STATE_MARKER}
    looks_like_state = (state / STATE_MARKER).exists() or any((state / k).exists() for k in known)
    if state.resolve() in (application.root.resolve(), Path.home().resolve(), Path("/")) or not looks_like_state:
        fail(f"{state} does not look like a Scanflow state folder: not deleting it")
    if not yes:
        fail(f"this deletes {state} (runs, logs, cache, isolated environments and the local MLflow "
              "store): pass --yes to confirm")
    shutil.rmtree(state)
    console.print(f"[green]✔[/green] deleted {escape(str(state))}")
    if application.tracker.uri:
        console.print(f"  (runs in the remote tracker {escape(application.tracker.uri)} are kept)")


def register(app: typer.Typer) -> None:
    """Add ``init``, ``run``, ``runs`` and ``wipe`` to the root Typer app."""
    app.command("init")(init)
    app.command("run")(run)
    app.command("runs")(runs)
    app.command("wipe")(wipe)


if __name__ == "__main__":  # pragma: no cover
    _root = typer.Typer()
    register(_root)
    sys.exit(_root())
