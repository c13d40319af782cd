"""``scanflow agents ...``: run and supervise the agents of an application.

    scanflow agents list APP                          agents, sensors and schedules, state
    scanflow agents run APP [--agent A] [--timeout S] [--until-idle] [--labels-url URL]
    scanflow agents trigger APP AGENT [SENSOR]        fire a sensor now
    scanflow agents pause APP AGENT / resume APP AGENT
    scanflow agents history APP [--agent A] [--limit N] [--json]
    scanflow agents approvals APP                     what the agents wait for a person to approve
    scanflow agents approve APP ID [--by NAME] / reject APP ID

APP is an application file or its folder. Everything goes through the state database
(``<state dir>/scanflow.db``), so these commands work while the agents run in another process
(``scanflow agents run`` or ``scanflow serve``): pause, resume, triggers and approvals reach
the running agents within their poll interval. When no runtime is running, ``trigger`` runs
the triggered agent (and the agents it messages) here until they are idle.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..agents import AgentRuntime
from ..agents.runtime import decision_history, runtime_is_alive
from .common import AppArg, StateDirOpt, console, fail, load_application

app = typer.Typer(name="agents", help="Run and supervise the agents of an application.",
                  no_args_is_help=True)

AgentArg = Annotated[str, typer.Argument(metavar="AGENT", help="agent name")]
StateOpt = Annotated[str | None, typer.Option("--state-url", metavar="URL", help="state database [default: <state>/scanflow.db]")]
LabelsOpt = Annotated[str | None, typer.Option(
    "--labels-url", metavar="URL", help="label store the improver asks people through [default: <state>/labels.db]; "
    "the same URL as `scanflow serve --labels-url` and `scanflow label --labels-url`")]


def _runtime(app_path: str, state_url: str | None, agents: list[str] | None = None,
             poll_every: float = 1.0, state_dir=None, labels_url: str | None = None):
    application = load_application(app_path, state_dir)
    if not application.agents:
        fail(f"application {application.name!r} has no agents: add an `agents:` list to its file")
    services = {"label_store": labels_url} if labels_url else None
    try:
        return AgentRuntime(application, state_url, agents=agents, poll_interval=poll_every, services=services)
    except (KeyError, ValueError, TypeError, ImportError) as exc:
        fail(str(exc).strip("'\""))


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_agents(app_path: AppArg, state_url: StateOpt = None, state_dir: StateDirOpt = None,
                as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The agents: kind, state, sensors with their schedules, last decision."""
    rt = _runtime(app_path, state_url, state_dir=state_dir)
    rows = rt.describe()
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(title=f"agents of {rt.app.name}")
    for col in ("agent", "kind", "state", "sensors (schedule)", "talks to", "inbox", "last decision"):
        table.add_column(col, overflow="fold")
    for r in rows:
        state = "[yellow]paused[/]" if r["paused"] else ("[green]running[/]" if r["alive"] else "stopped")
        sensors = "\n".join(f"{s['name']}: {s['schedule']}" for s in r["sensors"]) or "-"
        last = r["last_decision"]
        last_text = f"{last['decision']}: {last['reason']}" if last else "-"
        inbox = str(r["inbox"]) + (f" ([red]{r['failed_messages']} failed[/])" if r["failed_messages"] else "")
        table.add_row(r["name"], r["kind"], state, escape(sensors), ", ".join(r["talks_to"]) or "-",
                      inbox, escape(last_text))
    console.print(table)


@app.command()
def run(app_path: AppArg, state_url: StateOpt = None, state_dir: StateDirOpt = None, labels_url: LabelsOpt = None,
        agent: Annotated[list[str] | None, typer.Option("--agent", "-a", help="run only this agent (repeat)")] = None,
        timeout: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
        until_idle: Annotated[bool, typer.Option("--until-idle", help="poll once, stop when every inbox is empty")] = False,
        poll_every: Annotated[float, typer.Option("--poll-every", metavar="SECONDS", help="seconds between looks at inbox and triggers")] = 1.0,
        poll_interval: Annotated[float | None, typer.Option("--poll-interval", hidden=True, help="deprecated: --poll-every")] = None) -> None:
    """Run the agents in this process (Ctrl-C stops them between steps; nothing is lost)."""
    rt = _runtime(app_path, state_url, agent, poll_interval or poll_every, state_dir, labels_url)
    names = ", ".join(rt.definitions)
    if until_idle:
        n = rt.run_once()
        console.print(f"{names}: {n} events and messages processed; idle")
        return
    console.print(f"running agents {names} (state: {rt.store.url})" + (f" for {timeout:g}s" if timeout else ""))
    if timeout:
        rt.run_until(lambda _rt: False, timeout)
    else:
        rt.run_forever()


@app.command()
def trigger(app_path: AppArg, agent: AgentArg,
            sensor: Annotated[str | None, typer.Argument(help="sensor name [default: the agent's first]")] = None,
            state_url: StateOpt = None, state_dir: StateDirOpt = None, labels_url: LabelsOpt = None,
            wait: Annotated[float, typer.Option(help="seconds to wait for the agents to act")] = 60.0) -> None:
    """Fire a sensor now, whatever its schedule or threshold; show the decisions it led to."""
    rt = _runtime(app_path, state_url, state_dir=state_dir, labels_url=labels_url)
    try:
        before = max([d.id for d in rt.store.decisions(limit=1)] or [0])
        tid = rt.trigger(agent, sensor)
    except (KeyError, ValueError) as exc:
        fail(str(exc).strip("'\""))
    sensor = sensor or rt.definitions[agent].sensors[0].name
    alive = runtime_is_alive(rt.store.agent_rows().get(agent, {}).get("heartbeat_at"))
    if rt.store.paused([agent])[agent]:
        console.print(f"trigger #{tid} queued: agent {agent} is paused (resume it to act)")
        return
    if alive:
        console.print(f"trigger #{tid} sent to the running agent {agent}; waiting for it")
        deadline = time.time() + wait
        while time.time() < deadline and any(t[0] == tid for t in rt.store.pending_triggers([agent])):
            time.sleep(0.2)
        time.sleep(min(2.0, wait))
    else:
        n = rt.run_once()
        console.print(f"no running agents: ran them here ({n} events and messages)")
    _print_history(rt.store.decisions(limit=1000, since_id=before), rt)


@app.command()
def pause(app_path: AppArg, agent: AgentArg, state_url: StateOpt = None, state_dir: StateDirOpt = None) -> None:
    """Pause an agent (it keeps its inbox; the pause survives restarts)."""
    rt = _runtime(app_path, state_url, state_dir=state_dir)
    try:
        rt.pause(agent)
    except KeyError as exc:
        fail(str(exc).strip("'\""))
    console.print(f"agent {agent} paused")


@app.command()
def resume(app_path: AppArg, agent: AgentArg, state_url: StateOpt = None, state_dir: StateDirOpt = None) -> None:
    """Resume a paused agent; it catches up on what its sensors and inbox hold."""
    rt = _runtime(app_path, state_url, state_dir=state_dir)
    try:
        rt.resume(agent)
    except KeyError as exc:
        fail(str(exc).strip("'\""))
    console.print(f"agent {agent} resumed")


def _print_history(decisions: list[Any], rt) -> None:
    if not decisions:
        console.print("no decisions")
        return
    ids = {d.id for d in decisions}
    rows = [h for h in decision_history(rt.store, limit=max(len(decisions), 1) + 1000) if h["id"] in ids]
    _history_table(rows)


def _history_table(rows: list[dict[str, Any]]) -> None:
    table = Table()
    for col in ("time", "agent", "rule", "decision", "reason", "actions"):
        table.add_column(col, overflow="fold")
    for h in rows:
        acts = "\n".join(f"{a['actuator']}: {a['status']}" + (f" ({a['error']})" if a["error"] else "")
                         for a in h["actions"]) or "-"
        table.add_row(_when(h["time"]), h["agent"], h["rule"], h["decision"], escape(h["reason"]), escape(acts))
    console.print(table)


@app.command()
def history(app_path: AppArg, state_url: StateOpt = None, state_dir: StateDirOpt = None,
            agent: Annotated[str | None, typer.Option("--agent", "-a", help="only this agent")] = None,
            limit: Annotated[int, typer.Option(help="how many decisions (latest)")] = 50,
            as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The decisions of the agents, each with its reason and what its actions did."""
    rt = _runtime(app_path, state_url, state_dir=state_dir)
    if agent is not None and agent not in rt.definitions:
        fail(f"no agent {agent!r} (agents: {', '.join(rt.definitions)})")
    rows = rt.history(agent, limit=limit)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
    elif not rows:
        console.print("no decisions yet")
    else:
        _history_table(rows)


@app.command()
def approvals(app_path: AppArg, state_url: StateOpt = None, state_dir: StateDirOpt = None,
              all_: Annotated[bool, typer.Option("--all", help="include answered requests")] = False) -> None:
    """Requests waiting for a person (``approve``/``reject`` them by id)."""
    rt = _runtime(app_path, state_url, state_dir=state_dir)
    rows = rt.store.approvals(status=None if all_ else "pending")
    if not rows:
        console.print("nothing waits for approval")
        return
    table = Table()
    for col in ("id", "agent", "status", "asked", "subject", "reason"):
        table.add_column(col, overflow="fold")
    for a in rows:
        table.add_row(str(a.id), a.agent, a.status, _when(a.requested_at),
                      escape(json.dumps(a.subject)[:200]), escape(a.reason))
    console.print(table)


def _answer(app_path: str, approval_id: int, approved: bool, by: str, note: str, state_url: str | None,
            state_dir=None) -> None:
    rt = _runtime(app_path, state_url, state_dir=state_dir)
    try:
        rec = rt.store.decide_approval(approval_id, approved, by=by, note=note)
    except (KeyError, ValueError) as exc:
        fail(str(exc).strip("'\""))
    console.print(f"approval #{rec.id} {rec.status}; agent {rec.agent} will act on it")


ApprovalId = Annotated[int, typer.Argument(metavar="ID", help="the approval's id (`scanflow agents approvals`)")]


@app.command()
def approve(app_path: AppArg, approval_id: ApprovalId,
            by: Annotated[str, typer.Option(help="who approves")] = "",
            note: Annotated[str, typer.Option(help="a note kept with the answer")] = "",
            state_url: StateOpt = None, state_dir: StateDirOpt = None) -> None:
    """Approve what an agent asked for (e.g. a promotion)."""
    _answer(app_path, approval_id, True, by, note, state_url, state_dir)


@app.command()
def reject(app_path: AppArg, approval_id: ApprovalId,
           by: Annotated[str, typer.Option(help="who rejects")] = "",
           note: Annotated[str, typer.Option(help="why")] = "",
           state_url: StateOpt = None, state_dir: StateDirOpt = None) -> None:
    """Reject what an agent asked for."""
    _answer(app_path, approval_id, False, by, note, state_url, state_dir)


if __name__ == "__main__":  # python -m scanflow.cli.agents ...
    app()
