"""``scanflow episodes ...``: the drift episodes of an application and the labels each one used.

    scanflow episodes list APP [--status open] [--json]
    scanflow episodes show APP ID [--json]
    scanflow episodes close APP ID [--reason TEXT]      a person ends an episode

APP is an application file or its folder; episodes live in its state database.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..agents import StateStore, default_state_url
from ..agents.episodes import ACTIVE, CLOSED, EpisodeError, EpisodeStore, episode_report
from ..improve.labels import LabelStore
from .common import AppArg, StateDirOpt, console, err, load_application

app = typer.Typer(name="episodes", help="Drift episodes: what each shift cost in labels.",
                  no_args_is_help=True)



def _stores(app_path: str, state_dir=None):
    application = load_application(app_path, state_dir)
    state = application.state_path
    return StateStore(default_state_url(application)), LabelStore(state / "labels.db")


def _when(ts: float | None) -> str:
    return "—" if not ts else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_episodes(app_path: AppArg,
                  state_dir: StateDirOpt = None,
                  status: Annotated[str | None, typer.Option(help="open, settling, resolved or closed")] = None,
                  as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Every drift episode: status, pool, labels asked / answered (people, oracle) / used."""
    store, labels = _stores(app_path, state_dir)
    rows = episode_report(store, labels, status)
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title="Drift episodes")
    for col in ("id", "model", "status", "opened", "pool", "asked", "answered (people/oracle)",
                "skipped", "trained on", "held out", "budget"):
        table.add_column(col)
    for r in rows:
        lab = r["labels"]
        table.add_row(str(r["id"]), r["model"], r["status"], _when(r["opened_at"]), str(r["pool"]),
                      str(lab["requested"]), f"{lab['answered']} ({lab['human']}/{lab['oracle']})",
                      str(lab["skipped"]), str(lab["trained_on"]), str(lab["held_out"]),
                      str(r["budget"] or "—"))
    console.print(table if rows else "no drift episode yet")


EpisodeId = Annotated[int, typer.Argument(metavar="ID", help="the episode's id (`scanflow episodes list`)")]


@app.command("show")
def show(app_path: AppArg, episode: EpisodeId,
         state_dir: StateDirOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """One episode: its rounds of labels and its history (candidates, promotions, settling)."""
    store, labels = _stores(app_path, state_dir)
    rows = [r for r in episode_report(store, labels) if r["id"] == episode]
    if not rows:
        err.print(f"[red]error:[/red] {escape(str(EpisodeError(f'no episode {episode}')))}")
        raise typer.Exit(2)
    row = rows[0]
    if as_json:
        print(json.dumps(row, indent=2, default=str))
        return
    console.print(f"[bold]episode {row['id']}[/] ({row['model']}): {row['status']}, opened "
                  f"{_when(row['opened_at'])}, {row['pool']} samples in its pool")
    console.print(f"labels: {json.dumps(row['labels'])}")
    for r in row.get("rounds", []):
        console.print(f"  round {escape(r['batch'])}: {r['requested']} asked at {_when(r['at'])}")
    for e in row.get("events", []):
        detail = e.get("reason") or e.get("detail") or ""
        console.print(f"  {_when(e['at'])}  {e['event']}  {escape(str(detail))}", highlight=False)


@app.command("close")
def close(app_path: AppArg, episode: EpisodeId,
         state_dir: StateDirOpt = None,
          reason: Annotated[str, typer.Option(help="why (kept in the episode's history)")] = "closed by a person",
          by: Annotated[str, typer.Option(help="who closes it")] = "") -> None:
    """End an episode by hand: no more labels are asked for it."""
    store, _ = _stores(app_path, state_dir)
    try:
        ep = EpisodeStore(store).set_status(episode, CLOSED, key=f"cli-close-{episode}-{time.time()}",
                                            reason=f"{reason}" + (f" ({by})" if by else ""),
                                            only_from=ACTIVE)
    except EpisodeError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    console.print(f"episode {ep.id} closed")


