"""The dashboard: one server-rendered page over an application and its running parts.

Sections (each a Jinja2 fragment in ``templates/dashboard_sections.html``):

* **graph** — the application's multi-graph (workflows and agents) from :mod:`scanflow.graph`,
  as SVG through Graphviz (Mermaid text when ``dot`` is missing), nodes coloured by live status:
  executors by their latest run, agents by their heartbeat, the prediction service by its model;
* **model** — the served model (its flavor and input), the registry's versions and which one
  is champion;
* **runs** — recent workflow runs from the tracker;
* **episodes** — the drift episodes of the state database, one row each (status, pool, labels
  asked / answered by people and by the oracle / skipped / used for training / held out,
  promotions, the zero-label candidate) and their totals, labels answered first; a person can
  close an open or settling episode (``POST {prefix}/api/episodes/{id}/close``);
* **drift** — the background drift windows of the served stream, plotted (inline SVG) with each
  episode shaded from opening to resolution, and an accuracy plot when one is measured;
* **labels** — the labeling queue's progress, with a link to the labeling UI;
* **decisions** — what each agent decided and why.

The page polls ``GET /dashboard/api/status`` every ``poll_seconds``; the JSON carries the data
and the re-rendered fragments, and the page swaps them in (a few lines of JavaScript in
``static/dashboard.js``). Every source is optional: a section without one says so.
``GET /dashboard/api/episodes`` gives the episodes alone (:class:`EpisodesOut`).

    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> from scanflow.app import Application, Workflow, Executor
    >>> app = Application(name="demo", workflows=[Workflow(name="w", nodes=[
    ...     Executor(name="train", script="train.py")])])
    >>> api = FastAPI(); api.include_router(Dashboard(app).router())
    >>> TestClient(api).get("/dashboard/api/status").json()["application"]
    'demo'
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from html import escape
from importlib import resources
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from scanflow.agents.episodes import ACTIVE, CLOSED, EpisodeError, EpisodeStore, episode_report
from scanflow.graph import GraphvizNotFound, to_mermaid, to_svg
from scanflow.track import runs_dataframe
from scanflow.track.store import get_client

from ..security import remember_token, require_token
from ..webapi import responses
from .drift_monitor import WindowResult
from .labeling import ProgressOut, QueueCounts
from .plots import accuracy_plot, drift_plot

log = logging.getLogger(__name__)

__all__ = ["CloseEpisodeIn", "CloseEpisodeOut", "Dashboard", "DashboardStatusOut", "EpisodeLabelsOut",
           "EpisodeOut", "EpisodesOut"]

_PKG = resources.files("scanflow.serve")
_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
HEARTBEAT_STALE_SECONDS = 15.0


def _env() -> Environment:
    env = Environment(autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["ago"] = _ago
    env.filters["clock"] = lambda t: time.strftime("%H:%M:%S", time.localtime(t)) if t else "—"
    env.filters["stamp"] = _stamp
    return env


def _stamp(t: float | None) -> str:
    """The time of day for today, the date and time before (episodes last for days)."""
    if not t:
        return "—"
    when = time.localtime(t)
    today = time.localtime()
    same_day = (when.tm_year, when.tm_yday) == (today.tm_year, today.tm_yday)
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", when)


def _ago(t: float | None) -> str:
    if not t:
        return "—"
    s = max(0.0, time.time() - float(t))
    if s < 60:
        return f"{s:.0f}s ago"
    if s < 3600:
        return f"{s / 60:.0f} min ago"
    return f"{s / 3600:.1f} h ago"


# -- drift episodes: the JSON shapes and how a report row becomes one ---------------------------
class EpisodeLabelsOut(BaseModel):
    """Labels of an episode (or of all of them): what people were asked and what came back."""

    requested: int = Field(0, description="samples filed for labeling (asked for)")
    answered: int = Field(0, description="labels given, by people and by the oracle")
    human: int = Field(0, description="labels given by people")
    oracle: int = Field(0, description="labels given by the oracle (ground truth)")
    skipped: int = Field(0, description="samples a labeler skipped")
    pending: int = Field(0, description="samples still waiting for a label")
    trained_on: int = Field(0, description="labels the last improvement trained on")
    held_out: int = Field(0, description="labels held out for the evaluation gate")


class PromotionOut(BaseModel):
    version: str
    final: bool = False
    at: float | None = None


class ZeroLabelOut(BaseModel):
    method: str | None = Field(None, description="the zero-label method (align, denoise, entropy)")
    version: str | None = Field(None, description="the registry version of its candidate")
    promoted: bool = Field(False, description="whether that version was promoted for the episode")


class EpisodeOut(BaseModel):
    id: int
    model: str
    status: str = Field(description="open, settling, resolved or closed")
    opened_at: float
    settled_at: float | None = Field(None, description="when it started settling")
    closed_at: float | None = Field(None, description="when it was resolved or closed")
    reason: str = Field("", description="why it opened")
    status_reason: str = Field("", description="why it has its status (who closed it and why)")
    budget: int = 0
    pool: int = Field(0, description="samples in the episode's pool")
    rounds: int = Field(0, description="rounds of labels asked for")
    labels: EpisodeLabelsOut
    promotions: list[PromotionOut] = Field(default_factory=list)
    zero_label: ZeroLabelOut | None = None
    can_close: bool = Field(False, description="open or settling: a person may close it")


class EpisodeTotalsOut(BaseModel):
    episodes: int = 0
    active: int = Field(0, description="open or settling")
    promotions: int = 0
    labels: EpisodeLabelsOut = Field(default_factory=EpisodeLabelsOut)


class EpisodesOut(BaseModel):
    """``GET /dashboard/api/episodes``: every episode (newest first) and the totals."""

    episodes: list[EpisodeOut]
    totals: EpisodeTotalsOut


class CloseEpisodeIn(BaseModel):
    """A person closes an episode; send ``{}`` to close it without a reason."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", description="why (kept in the episode's history)")
    by: str = Field("", description="who closes it")


class CloseEpisodeOut(BaseModel):
    id: int
    status: str
    closed_at: float | None
    reason: str
    message: str


# -- GET {prefix}/api/status: everything the page shows ------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class AgentStatusOut(_Out):
    name: str
    kind: str
    status: str = Field(description="running, paused, stopped (no recent heartbeat) or pending")
    heartbeat_at: float | None = None


class ServedModelOut(_Out):
    name: str
    version: str | None = None
    alias: str | None = None
    loaded_at: float | None = None
    flavor: str | None = None
    input: str | None = Field(None, description="what the model takes, in a few words")
    columns: list[str] = Field(default_factory=list, description="a table's column names")
    swaps: list[dict[str, Any]] = Field(default_factory=list,
                                        description="{from_version, to_version, at, load_seconds}")
    requests: int = 0
    samples: int = 0


class ModelVersionOut(_Out):
    version: str
    aliases: list[str]
    created_at: float
    run_id: str | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class DriftSummaryOut(_Out):
    windows: int = Field(description="windows checked so far")
    drifted: int = Field(description="windows that drifted")
    first_drift_at: int | None = Field(None, description="stream position of the first drift")
    last: WindowResult | None = None


class DriftSpanOut(_Out):
    """Where the drift plot shades an episode (positions in the served stream)."""

    label: str
    start: float
    end: float
    settled: float | None = None
    status: str


class BatchProgressOut(QueueCounts):
    model_config = ConfigDict(extra="forbid")
    name: str


class LabelsOut(ProgressOut):
    batches: list[BatchProgressOut] = Field(description="the last batches of the queue")


class DecisionSummaryOut(_Out):
    id: int
    agent: str
    rule: str
    decision: str
    reason: str
    created_at: float
    actions: list[dict[str, Any]]


class DashboardStatusOut(_Out):
    """``GET /dashboard/api/status``: every section's data, the re-rendered HTML fragments, and
    ``errors``: the sections whose source failed, with why."""

    application: str | None
    time: float
    statuses: dict[str, str] = Field(description="live status of each node id of the graph")
    graph_key: str
    agents: list[AgentStatusOut]
    served_model: ServedModelOut | None
    model_name: str | None
    models: list[ModelVersionOut] = Field(description="registered versions, newest first")
    runs: list[dict[str, Any]] = Field(description="recent runs; the columns are the tracker's "
                                                   "(parameters and metrics of the application)")
    drift: DriftSummaryOut
    drift_key: str
    drift_episodes: list[DriftSpanOut]
    episodes: EpisodesOut | None
    accuracy_key: str
    labels: LabelsOut | None
    decisions: list[DecisionSummaryOut]
    label_url: str | None
    mlflow_url: str | None
    errors: dict[str, str]
    html: dict[str, str] = Field(description="the re-rendered HTML of each live section")


def _episode_out(row: dict[str, Any]) -> EpisodeOut:
    """One row of :func:`scanflow.agents.episodes.episode_report` as the dashboard shows it."""
    events = row.get("events") or []
    promotions = [PromotionOut(version=str(e.get("version")), final=bool(e.get("final")),
                               at=e.get("at")) for e in row.get("promotions") or []]
    zero = row.get("zero_label")
    zero_out = None
    if zero:
        version = str(zero.get("version"))
        zero_out = ZeroLabelOut(method=str(zero.get("made_by", "")).removeprefix("zero-label:") or None,
                                version=version, promoted=any(p.version == version for p in promotions))
    return EpisodeOut(
        id=row["id"], model=row["model"], status=row["status"], opened_at=row["opened_at"],
        settled_at=next((e.get("at") for e in events if e.get("event") == "settling"), None),
        closed_at=row.get("closed_at"), reason=row.get("reason") or "",
        status_reason=next((str(e.get("reason") or "") for e in reversed(events)
                            if e.get("event") == row["status"]), ""),
        budget=row.get("budget") or 0,
        pool=row.get("pool", 0), rounds=len(row.get("rounds") or []),
        labels=EpisodeLabelsOut(**row["labels"]), promotions=promotions, zero_label=zero_out,
        can_close=row["status"] in ("open", "settling"),
    )


def _episode_totals(rows: list[EpisodeOut]) -> EpisodeTotalsOut:
    labels = {k: sum(getattr(r.labels, k) for r in rows) for k in EpisodeLabelsOut.model_fields}
    return EpisodeTotalsOut(episodes=len(rows), active=sum(r.can_close for r in rows),
                            promotions=sum(len(r.promotions) for r in rows),
                            labels=EpisodeLabelsOut(**labels))


def _stream_positions(times: list[float], windows: list[dict[str, Any]]) -> tuple[float, list[float]]:
    """Where in the served stream each time falls (from the drift windows' check times), and the
    time the stream started (extrapolated from its first windows)."""
    ats = np.maximum.accumulate([float(w["at"]) for w in windows])
    ends = [float(w["end"]) for w in windows]
    first = float(windows[0]["start"])
    rate = (ats[1] - ats[0]) / max(ends[1] - ends[0], 1.0) if len(windows) > 1 else 0.0
    t0 = ats[0] - rate * (ends[0] - first) - 1e-6
    xs = np.interp(times, [t0, *ats], [first, *ends])
    return t0, [float(x) for x in np.atleast_1d(xs)]


def _episode_spans(episodes: list[dict[str, Any]], windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each episode's span over the plotted stream: ``{"label", "start", "end", "settled"}``
    (episodes that ended before the stream began are left out; an active one runs to its end)."""
    if not windows or not episodes or any(w.get("at") is None for w in windows):
        return []
    spans = []
    for e in sorted(episodes, key=lambda e: e["id"]):
        times = [e["opened_at"], e.get("closed_at") or float("inf"), e.get("settled_at") or 0.0]
        t0, (start, end, settled) = _stream_positions(times, windows)
        if e.get("closed_at") and e["closed_at"] < t0:
            continue
        spans.append({"label": f"episode {e['id']}", "start": start, "end": max(end, start + 1),
                      "settled": settled if e.get("settled_at") else None, "status": e["status"]})
    return spans


class SVGResponse(Response):
    media_type = "image/svg+xml"


# An episode id in a path: out of range is a 422, never a database overflow.
EpisodeId = Annotated[int, Path(ge=0, le=2**63 - 1, description="a drift episode's id")]


def _http_error(status: int, field: str, message: str, fix: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"field": field, "message": message, "fix": fix})


def _input_text(schema: Any) -> tuple[str | None, list[str]]:
    """What the model takes, shortly ("table of 18 columns", "images 32x32x3 (HWC)"), and the
    column names of a table."""
    if schema is None:
        return None, []
    if schema.kind == "table":
        return f"table of {len(schema.columns)} columns", list(schema.names)
    return schema.describe(), []


class Dashboard:
    """The dashboard of ``application`` over the sources given (all optional).

    Parameters
    ----------
    application:
        The :class:`~scanflow.app.Application` whose graph is drawn.
    state:
        The agents' :class:`~scanflow.agents.store.StateStore`: decisions and agent heartbeats.
    labels:
        The :class:`~scanflow.improve.labels.LabelStore` of the labeling queue.
    prediction:
        The :class:`~scanflow.serve.predict.PredictionService`: served model and drift windows.
    model_name, tracking_uri:
        The registered model whose versions are listed, and the tracker holding it.
    node_statuses:
        ``() -> {node_id: status}`` for workflow nodes (the latest run's statuses).
    runs:
        ``() -> list of dicts`` (``run_id``, ``workflow``, ``status``, ``start_time``,
        ``duration``, ``metrics``); default: the tracker's runs of the application.
    accuracy:
        ``() -> list of {"x", "accuracy", "series"}`` points (e.g. the demo's measured
        accuracy on the stream); plotted under the drift plot when given.
    label_url, mlflow_url:
        Links shown on the page (the labeling UI, the MLflow UI).
    """

    def __init__(
        self,
        application: Any = None,
        *,
        state: Any = None,
        labels: Any = None,
        prediction: Any = None,
        model_name: str | None = None,
        tracking_uri: str | None = None,
        node_statuses: Callable[[], dict[str, str]] | None = None,
        runs: Callable[[], list[dict[str, Any]]] | None = None,
        accuracy: Callable[[], list[dict[str, Any]]] | None = None,
        label_url: str | None = "/label/",
        mlflow_url: str | None = None,
        title: str | None = None,
        poll_seconds: float = 2.0,
    ):
        self.application = application
        self.state = state
        self.labels = labels
        self.prediction = prediction
        self.model_name = model_name
        self.tracking_uri = tracking_uri
        self.node_statuses = node_statuses
        self.runs = runs
        self.accuracy = accuracy
        self.label_url = label_url
        self.mlflow_url = mlflow_url
        self.title = title or (f"Scanflow — {application.name}" if application is not None else "Scanflow")
        self.poll_seconds = poll_seconds
        self._env = _env()
        self._templates = {
            name: self._env.from_string((_PKG / "templates" / name).read_text())
            for name in ("dashboard.html", "dashboard_sections.html")
        }
        self._cache: dict[str, tuple[str, str]] = {}
        self._cache_lock = threading.Lock()
        self.errors_: dict[str, str] = {}

    # -- data --------------------------------------------------------------------------------
    def _safe(self, section: str, fn: Callable[[], Any], default: Any) -> Any:
        """One failing source must not take the page down: show its error in its section."""
        try:
            value = fn()
            self.errors_.pop(section, None)
            return value
        except Exception as exc:
            self.errors_[section] = f"{type(exc).__name__}: {exc}"
            log.debug("dashboard section %s failed", section, exc_info=True)
            return default

    def agents(self) -> list[dict[str, Any]]:
        """The application's agents with their live status (from heartbeats in the state DB)."""
        rows = self.state.agent_rows() if self.state is not None else {}
        out = []
        specs = list(self.application.agents) if self.application is not None else []
        names = [a.name for a in specs] + [n for n in rows if n not in {a.name for a in specs}]
        kinds = {a.name: a.kind for a in specs}
        now = time.time()
        for name in names:
            row = rows.get(name) or {}
            beat = row.get("heartbeat_at")
            if row.get("paused"):
                status = "paused"
            elif beat and now - beat < HEARTBEAT_STALE_SECONDS:
                status = "running"
            elif beat:
                status = "stopped"
            else:
                status = "pending"
            out.append({"name": name, "kind": kinds.get(name, "custom"), "status": status,
                        "heartbeat_at": beat})
        return out

    def statuses(self) -> dict[str, str]:
        """Live status of every node id of the graph (see :mod:`scanflow.graph.model`)."""
        out: dict[str, str] = {}
        if self.node_statuses is not None:
            out.update(self._safe("graph", self.node_statuses, {}) or {})
        for agent in self._safe("agents", self.agents, []):
            # paused/stopped are shown with the neutral colours of the palette
            out[f"agent:{agent['name']}"] = {"paused": "cancelled", "stopped": "skipped"}.get(
                agent["status"], agent["status"])
        if self.prediction is not None and self.application is not None:
            status = "running" if self.prediction.slot.ready else "pending"
            for svc in self.application.services:
                out.setdefault(f"service:{svc.name}", status)
        return out

    def served_model(self) -> dict[str, Any] | None:
        if self.prediction is None or not self.prediction.slot.ready:
            return None
        m = self.prediction.slot.get()
        text, columns = _input_text(getattr(m.model, "schema", None))
        return {"name": m.name, "version": m.version, "alias": m.alias, "loaded_at": m.loaded_at,
                "flavor": getattr(m.model, "flavor", None), "input": text, "columns": columns,
                "swaps": list(self.prediction.slot.swaps_),
                "requests": self.prediction.n_requests_, "samples": self.prediction.n_samples_}

    def model_versions(self) -> list[dict[str, Any]]:
        """Registered versions of ``model_name``, newest first, with their aliases."""
        if not self.model_name:
            return []

        client = get_client(self.tracking_uri)
        versions = client.search_model_versions(f"name='{self.model_name}'")
        if not versions:
            return []
        # search results carry no aliases: read them from the registered model
        by_version: dict[str, list[str]] = {}
        for alias, version in (client.get_registered_model(self.model_name).aliases or {}).items():
            by_version.setdefault(str(version), []).append(alias)
        out = []
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)[:20]:
            out.append({
                "version": str(v.version),
                "aliases": sorted(by_version.get(str(v.version), []), key=lambda a: (a != "champion", a)),
                "created_at": (v.creation_timestamp or 0) / 1000,
                "run_id": v.run_id,
                "description": v.description or "",
                "tags": dict(v.tags or {}),
            })
        return out

    def recent_runs(self) -> list[dict[str, Any]]:
        if self.runs is not None:
            return list(self.runs())[:15]
        if self.application is None:
            return []

        df = runs_dataframe(self.application)
        if df is None or len(df) == 0:
            return []
        rows = []
        for rec in df.head(15).to_dict("records"):
            rows.append({k: (None if _isnan(v) else v) for k, v in rec.items()})
        return rows

    def drift_windows(self) -> list[dict[str, Any]]:
        if self.prediction is None or self.prediction.drift is None:
            return []
        return [w.to_dict() for w in self.prediction.drift.results()]

    def label_progress(self) -> dict[str, Any] | None:
        if self.labels is None:
            return None
        progress = self.labels.progress()
        progress["batches"] = [
            {"name": b, **{k: v for k, v in self.labels.progress(b).items() if k != "by_labeler"}}
            for b in self.labels.batches()[-8:]
        ]
        return progress

    def episodes(self) -> EpisodesOut | None:
        """Every drift episode with its label accounting, and the totals (None: no state DB)."""
        if self.state is None or self.labels is None:
            return None

        rows = [_episode_out(r) for r in episode_report(self.state, self.labels)]
        return EpisodesOut(episodes=rows, totals=_episode_totals(rows))

    def close_episode(self, episode_id: int, reason: str = "", by: str = "") -> CloseEpisodeOut:
        """A person ends an open or settling episode; committed before this returns."""
        if self.state is None:
            raise _http_error(503, "state", "this dashboard has no state database",
                              "serve the application with `scanflow serve APP`")
        reason, by = reason.strip(), by.strip()
        if len(reason) > 1000 or len(by) > 200:
            field = "reason" if len(reason) > 1000 else "by"
            raise _http_error(422, field, "is too long", "keep the reason under 1000 characters "
                              "and the name under 200")
        store = EpisodeStore(self.state)
        try:
            episode = store.get(episode_id)
        except EpisodeError:
            raise _http_error(404, "episode_id", f"no episode {episode_id}",
                              "list the episodes with GET /dashboard/api/episodes") from None
        if not episode.active:
            raise _http_error(409, "episode_id", f"episode {episode_id} is already {episode.status}",
                              "only an open or settling episode can be closed")
        text = (reason or "closed by a person") + (f" ({by})" if by else "")
        # one key per episode: a second close (two clicks, a replay) changes nothing twice
        try:
            done = store.set_status(episode.id, CLOSED, key=f"dashboard-close-{episode.id}",
                                    reason=text, only_from=ACTIVE)
        except EpisodeError as exc:  # the agents resolved it since it was read
            raise _http_error(409, "episode_id", str(exc),
                              "only an open or settling episode can be closed") from None
        if done.status != CLOSED:
            raise _http_error(409, "episode_id", f"episode {episode_id} was closed from here before "
                              f"and is now {done.status}", "close it with `scanflow episodes close`")
        return CloseEpisodeOut(id=done.id, status=done.status, closed_at=done.closed_at,
                               reason=text, message=f"episode {done.id} closed")

    def decisions(self, limit: int = 30) -> list[dict[str, Any]]:
        if self.state is None:
            return []
        rows = self.state.decisions(limit=limit)
        return [
            {"id": d.id, "agent": d.agent, "rule": d.rule, "decision": d.decision,
             "reason": d.reason, "created_at": d.created_at, "actions": d.actions}
            for d in reversed(rows)
        ]

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-able data."""
        statuses = self.statuses()
        windows = self._safe("drift", self.drift_windows, [])
        accuracy = self._safe("accuracy", self.accuracy, []) if self.accuracy else []
        episodes = self._safe("episodes", self.episodes, None)
        spans = _episode_spans(episodes.model_dump()["episodes"] if episodes else [], windows)
        data = {
            "application": getattr(self.application, "name", None),
            "time": time.time(),
            "statuses": statuses,
            "graph_key": _key(statuses),
            "agents": self._safe("agents", self.agents, []),
            "served_model": self._safe("model", self.served_model, None),
            "model_name": self.model_name,
            "models": self._safe("models", self.model_versions, []),
            "runs": self._safe("runs", self.recent_runs, []),
            "drift": {
                "windows": len(windows),
                "drifted": sum(1 for w in windows if w["is_drift"]),
                "first_drift_at": next((w["start"] for w in windows if w["is_drift"]), None),
                "last": windows[-1] if windows else None,
            },
            "drift_key": _drift_key(windows, spans),
            "drift_episodes": spans,  # where the drift plot shades each episode
            "episodes": episodes.model_dump() if episodes else None,
            "accuracy_key": _key(accuracy),
            "labels": self._safe("labels", self.label_progress, None),
            "decisions": self._safe("decisions", self.decisions, []),
            "label_url": self.label_url,
            "mlflow_url": self.mlflow_url,
        }
        data["errors"] = dict(self.errors_)
        return json.loads(json.dumps(data, default=_plain))

    def fragments(self, data: dict[str, Any]) -> dict[str, str]:
        """The re-rendered HTML of each live section."""
        module = self._templates["dashboard_sections.html"].make_module({"d": data})
        return {name: str(getattr(module, name)(data)) for name in
                ("model", "runs", "labels", "episodes", "decisions", "drift_summary", "agents")}

    # -- rendering ---------------------------------------------------------------------------
    def _cached(self, name: str, key: str, build: Callable[[], str]) -> str:
        with self._cache_lock:
            hit = self._cache.get(name)
            if hit and hit[0] == key:
                return hit[1]
        value = build()
        with self._cache_lock:
            self._cache[name] = (key, value)
        return value

    def graph_svg(self, statuses: dict[str, str] | None = None) -> str:
        """The application graph coloured by ``statuses`` (SVG; Mermaid text without Graphviz)."""
        if self.application is None:
            return "<p class='muted'>no application</p>"
        statuses = self.statuses() if statuses is None else statuses

        def build() -> str:
            try:
                svg = to_svg(self.application, statuses=statuses)
                return svg[svg.find("<svg"):] if "<svg" in svg else svg
            except GraphvizNotFound:
                return f"<pre class='mermaid'>{escape(to_mermaid(self.application, statuses=statuses))}</pre>"

        return self._cached("graph", _key(statuses), build)

    def drift_svg(self) -> str:
        windows = self._safe("drift", self.drift_windows, [])
        episodes = self._safe("episodes", self.episodes, None)
        spans = _episode_spans(episodes.model_dump()["episodes"] if episodes else [], windows)
        return self._cached("drift", _drift_key(windows, spans),
                            lambda: drift_plot(windows, episodes=spans))

    def accuracy_svg(self) -> str:
        points = self._safe("accuracy", self.accuracy, []) if self.accuracy else []
        return self._cached("accuracy", _key(points),
                            lambda: accuracy_plot(points, title="Accuracy on the served stream"))

    def page(self, base: str = "/dashboard") -> str:
        data = self.snapshot()
        return self._templates["dashboard.html"].render(
            d=data, title=self.title, base=base, poll_ms=int(self.poll_seconds * 1000),
            graph=self.graph_svg(data["statuses"]), drift_svg=self.drift_svg(),
            accuracy_svg=self.accuracy_svg() if self.accuracy else None,
            fragments=self.fragments(data),
        )

    def router(self, prefix: str = "/dashboard") -> APIRouter:
        """``GET {prefix}`` (the page), ``{prefix}/api/status`` (JSON), ``{prefix}/api/episodes``,
        ``POST {prefix}/api/episodes/{id}/close`` and the SVG parts."""
        router = APIRouter(prefix=prefix, tags=["dashboard"], dependencies=[Depends(require_token)])
        dash = self

        @router.get("", response_class=HTMLResponse, include_in_schema=False)
        @router.get("/", response_class=HTMLResponse, summary="The dashboard page")
        def page(request: Request) -> HTMLResponse:
            response = HTMLResponse(dash.page(base=prefix))
            remember_token(request, response)
            return response

        @router.get("/api/status", response_model=DashboardStatusOut,
                    summary="Live status of every section (polled by the page)")
        def status() -> dict[str, Any]:
            data = dash.snapshot()
            data["html"] = dash.fragments(data)
            return data

        @router.get("/api/episodes", response_model=EpisodesOut, responses=responses(503),
                    summary="Drift episodes: status, pool, labels asked / answered / used, promotions")
        def episodes() -> EpisodesOut:
            out = dash.episodes()
            if out is None:
                raise _http_error(503, "state", "this dashboard has no state database or label queue",
                                  "serve the application with `scanflow serve APP`")
            return out

        @router.post("/api/episodes/{episode_id}/close", response_model=CloseEpisodeOut,
                     responses=responses(404, 409, 503),
                     summary="A person closes an open or settling drift episode")
        def close_episode(episode_id: EpisodeId, body: CloseEpisodeIn) -> CloseEpisodeOut:
            """No more labels are asked for it. 404: no such episode; 409: already resolved or
            closed. The body is JSON (``{}`` for no reason), which also keeps other web pages
            from posting it."""
            return dash.close_episode(episode_id, body.reason, body.by)

        @router.get("/graph.svg", response_class=SVGResponse,
                    summary="The application graph, coloured by live status")
        def graph() -> Response:
            return Response(dash.graph_svg(), media_type="image/svg+xml")

        @router.get("/plots/drift.svg", response_class=SVGResponse, summary="Drift over time")
        def drift() -> Response:
            return Response(dash.drift_svg(), media_type="image/svg+xml")

        @router.get("/plots/accuracy.svg", response_class=SVGResponse, summary="Accuracy over time")
        def accuracy() -> Response:
            return Response(dash.accuracy_svg(), media_type="image/svg+xml")

        @router.get("/static/{name}", include_in_schema=False)
        def static(name: str) -> Response:
            if name not in _STATIC:
                raise HTTPException(status_code=404, detail=f"no static file {name!r}")
            return Response((_PKG / "static" / name).read_text(), media_type=_STATIC[name])

        return router


def _key(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _drift_key(windows: list[dict[str, Any]], spans: list[dict[str, Any]]) -> str:
    return _key([[(w["start"], w["is_drift"], w.get("model_version")) for w in windows],
                 [(e["label"], round(e["start"]), round(e["end"]), e["status"]) for e in spans]])


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
