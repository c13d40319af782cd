"""The demo's summary (``summary.json``): every number computed from what happened in the run.

* per **phase**: accuracy of the answers the API gave before the phase's first promotion and
  after its last one, drift alarms and label requests after that promotion;
* per **episode**: when it opened, each promotion (sample, seconds after the shift's onset),
  the labels it asked for, got answered (by people / by the oracle), skipped, used for training
  and held out for the gate, and what the zero-label first response did;
* in total: labels answered (the headline), asked, skipped; every agent decision and its reason.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["build_summary", "notable_decisions"]


def _promotions(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in history:
        if d["agent"] == "planner" and d["decision"] == "promote":
            out.append({"time": d["time"], "version": str((d["inputs"] or {}).get("version")),
                        "episode": (d["inputs"] or {}).get("episode"),
                        "final": "final for episode" in d["reason"], "reason": d["reason"]})
    return out


def _phase_summary(demo, phase: dict[str, Any], history, promotions) -> dict[str, Any]:
    """Accuracy before the phase's first promotion and after its last; alarms and label
    requests once the loop settled the shift (the checker accepted it) — or after the last
    promotion, or over the whole phase when nothing was promoted in it. Label requests "after
    promotion" count from the model that adapted the loop to the shift: the final promotion, or
    the settling when the episode ended without one (the champion was judged to handle the
    shift, or the budget was spent); rounds after a promotion that was not final are part of the
    episode's adaptation and are counted in its labels."""
    inside = [p for p in promotions if phase["started_at"] <= p["time"] <= phase["ended_at"]]
    first = inside[0]["time"] if inside else None
    last = inside[-1]["time"] if inside else None
    before = _accuracy_between(demo.log, phase["name"], None, first)
    after = _accuracy_between(demo.log, phase["name"], last, None) if last else (None, 0)
    settled = next((d["time"] for d in history if d["agent"] == "checker" and d["decision"] == "settle"
                    and phase["started_at"] <= d["time"] <= phase["ended_at"]), None)
    since, counted = ((settled, "settled") if settled else (last, "last promotion") if last
                      else (phase["started_at"], "phase start"))
    final = next((p["time"] for p in inside if p["final"]), None)
    adapted = final or settled or last
    alarms = [d for d in history if d["agent"] == "checker" and d["decision"] in ("alert", "reopen")
              and d["time"] >= since and _checked_phase(demo, d) == phase["name"]]
    return {"name": phase["name"], "shift": phase["shift"], "samples": [phase["start"], phase["end"]],
            "accuracy_before": before[0], "answers_before": before[1],
            "accuracy_after": after[0], "answers_after": after[1],
            "promotions": [p["version"] for p in inside], "counted_from": counted,
            "alarms": len(alarms), "label_requests": _label_requests(demo, since, phase["ended_at"]),
            "label_requests_after_promotion": (_label_requests(demo, adapted, phase["ended_at"])
                                               if last else None)}


def _checked_phase(demo, decision: dict[str, Any]) -> str | None:
    """The phase of the last sample a checker decision looked at (windows straddle phases)."""
    last = (decision.get("inputs") or {}).get("last_id")
    return None if last is None else demo.log.phase_of(int(last))


def _accuracy_between(log, phase: str, t0: float | None, t1: float | None) -> tuple[float | None, int]:
    right = total = 0
    for b in log.snapshot():
        if b.phase != phase or (t0 is not None and b.sent_at < t0) or (t1 is not None and b.sent_at >= t1):
            continue
        right += int(b.correct.sum())
        total += len(b.y_true)
    return (right / total if total else None), total


def _label_requests(demo, t0: float, t1: float) -> int:
    """Samples filed for labeling between two times (what a person would have been asked)."""
    lo = datetime.fromtimestamp(t0, tz=UTC).replace(tzinfo=None)
    hi = datetime.fromtimestamp(t1, tz=UTC).replace(tzinfo=None)
    return sum(1 for it in demo.stack.labels.items_of() if lo <= it.created_at <= hi)


def _episode_summary(demo, ep, promotions, phases) -> dict[str, Any]:
    # lazy: scanflow.agents loads SQLAlchemy, which importing scanflow.demo skips (its nodes import it)
    from scanflow.agents.episodes import label_accounting

    log = demo.log
    phase = next((p for p in phases if p["started_at"] <= ep.opened_at <= p["ended_at"]), None)
    onset = phase["started_at"] if phase else ep.opened_at
    mine = [p for p in promotions if p["episode"] == ep.id]
    return {
        "id": ep.id, "status": ep.status, "phase": phase["name"] if phase else None,
        "opened_at_sample": log.position_at(ep.opened_at),
        "onset_sample": phase["start"] if phase else None,
        "promotions": [{"version": p["version"], "final": p["final"],
                        "sample": log.position_at(p["time"]),
                        "seconds_after_onset": round(p["time"] - onset, 1)} for p in mine],
        "samples_onset_to_promotion": (log.position_at(mine[0]["time"]) - phase["start"])
        if mine and phase else None,
        "labels": label_accounting(ep, demo.stack.labels),
        "budget": ep.budget, "rounds": len(ep.rounds),
        "zero_label": _zero_label_outcome(ep, mine),
    }


def _zero_label_outcome(ep, promotions) -> dict[str, Any] | None:
    info = ep.info.get("zero_label")
    if not info:
        return None
    version = str(info.get("version"))
    return {"method": info.get("made_by"), "version": version,
            "promoted": any(p["version"] == version for p in promotions)}


def _totals(demo, episodes: list[dict[str, Any]]) -> dict[str, int]:
    p = demo.stack.labels.progress()
    return {"answered": p["labeled"], "human": p["human"], "oracle": p["oracle"],
            "requested": p["total"], "skipped": p["skipped"], "pending": p["pending"],
            "used_for_training": sum(e["labels"]["trained_on"] for e in episodes),
            "held_out_for_gate": sum(e["labels"]["held_out"] for e in episodes)}


def _decisions(demo, history) -> list[dict[str, Any]]:
    return [{"agent": d["agent"], "decision": d["decision"], "reason": d["reason"], "rule": d["rule"],
             "time": round(d["time"] - demo.started, 2), "sample": demo.log.position_at(d["time"]),
             "actions": [{"actuator": a["actuator"], "status": a["status"]} for a in d.get("actions", [])]}
            for d in history]


def build_summary(demo) -> dict[str, Any]:
    # lazy: scanflow.agents loads SQLAlchemy, which importing scanflow.demo skips (its nodes import it)
    from scanflow.agents import EpisodeStore

    history = [d for d in demo.runtime.history(limit=5000) if d["time"] >= demo.started]
    history.sort(key=lambda d: d["time"])
    promotions = _promotions(history)
    phases = demo.log.phases()
    episodes = [_episode_summary(demo, ep, promotions, phases)
                for ep in sorted(EpisodeStore(demo.runtime.store).list(), key=lambda e: e.id)
                if ep.opened_at >= demo.started]
    phase_rows = [_phase_summary(demo, p, history, promotions) for p in phases]
    labels = _totals(demo, episodes)
    return _with_headline(demo, {
        "example": demo.example.name, "application": demo.app.name, "model": demo.example.model,
        "mode": "quick" if demo.settings.quick else "full",
        "labeler": "human" if demo.settings.human else "oracle",
        "baseline_version": demo.training["baseline_version"],
        "champion_version": demo.stack.prediction.slot.get().version if demo.stack.prediction.slot.ready else None,
        "phases": phase_rows, "episodes": episodes, "labels": labels,
        "labels_answered": labels["answered"],
        "samples_streamed": demo.log.n_samples, "stream_end": demo.stream_end,
        "decisions": _decisions(demo, history),
        "training": {k: demo.training[k] for k in ("run_id", "duration", "clean_accuracy")},
        "duration_seconds": round(time.time() - demo.started, 1),
        "state_dir": str(demo.state), "tracking_uri": demo.uri, "server_url": demo.server.url,
        "serve_command": demo.serve_command,
        "errors": {"oracle": (demo.oracle.errors if demo.oracle else [])[-3:],
                   "agents": dict(demo.runtime.errors),
                   "serving": demo.stack.prediction.log_errors_[-3:]},
        "settings": demo.settings.to_dict(),
    })


def _with_headline(demo, s: dict[str, Any]) -> dict[str, Any]:
    """The first shift's numbers under the names earlier demos used (and the dashboard shows)."""
    shift = next((p for p in s["phases"] if p["shift"]), None)
    first = s["episodes"][0] if s["episodes"] else None
    s.update({
        "promoted": bool(s["episodes"] and any(e["promotions"] for e in s["episodes"])),
        "accuracy_before": shift["accuracy_before"] if shift else None,
        "accuracy_after": shift["accuracy_after"] if shift else None,
        "accuracy_before_samples": shift["answers_before"] if shift else 0,
        "accuracy_after_samples": shift["answers_after"] if shift else 0,
        "drift_onset_sample": shift["samples"][0] if shift else None,
        "drift_detected_at": first["opened_at_sample"] if first else None,
        "labels_used": s["labels"]["answered"],
    })
    return s


_JOINS = re.compile(r"samples join episode (\d+)$")


def notable_decisions(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decisions worth a line: no routine ``normal``/``wait``, and each run of alerts that
    only add a batch to the same open episode folded into one line (with ``count``).

    >>> d = lambda t, r: {"time": t, "sample": t, "agent": "checker", "decision": "alert", "reason": r}
    >>> rows = notable_decisions([d(1, "x; 9 samples open a drift episode"),
    ...                           d(2, "y; 9 samples join episode 1"), d(3, "z; 9 samples join episode 1")])
    >>> [(r["time"], r.get("count", 1), r["reason"]) for r in rows][1]
    (2, 2, '2 drifted batches join episode 1 (the shift goes on) until t=3.0 s')
    """
    out: list[dict[str, Any]] = []
    for d in decisions:
        if d["decision"] in ("normal", "wait", "observe"):
            continue
        joined = _JOINS.search(d["reason"]) if d["decision"] == "alert" else None
        last = out[-1] if out else None
        if joined and last is not None and last.get("joins") == joined.group(1) \
                and last["agent"] == d["agent"]:
            last["count"] += 1
            last["reason"] = (f"{last['count']} drifted batches join episode {joined.group(1)} "
                              f"(the shift goes on) until t={d['time']:.1f} s")
            continue
        out.append({**d, "count": 1, **({"joins": joined.group(1)} if joined else {})})
    return out
