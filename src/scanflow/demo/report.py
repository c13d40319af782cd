"""The demo's summary (``summary.json``) and report (``report.md`` + SVG plots).

Every number is computed from what happened in the run: the API's answers against the stream's
ground truth, the agents' stored decisions, the label store and the model registry.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .stream import StreamLog

__all__ = ["build_summary", "write_outputs"]


def _first(history: list[dict[str, Any]], agent: str, decisions: tuple[str, ...],
           actuator: str | None = None) -> dict[str, Any] | None:
    for d in history:
        if d["agent"] != agent or d["decision"] not in decisions:
            continue
        if actuator is None or any(a["actuator"] == actuator for a in d.get("actions", [])):
            return d
    return None


def build_summary(*, settings, app, training, log: StreamLog, runtime, stack, started: float,
                  onset: int, promoted_at: float | None, stream_end_reason: str,
                  oracle_errors: list[str], tracking: str, server_url: str,
                  candidates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    from scanflow.track import get_alias_version, get_client

    baseline = training["baseline_version"]
    history = [d for d in runtime.history(limit=1000) if d["time"] >= started]
    batches = log.snapshot()
    onset_batch = next((b for b in batches if b.start >= onset), None)
    onset_time = onset_batch.sent_at if onset_batch else None

    acc_before, n_before = log.accuracy(corrupted=True, version=baseline)
    acc_after, n_after = log.accuracy(corrupted=True, not_version=baseline)
    clean_before, n_clean = log.accuracy(corrupted=False, version=baseline)

    alert = _first(history, "checker", ("alert",))
    drift_at = None
    if alert is not None and alert["inputs"].get("last_id") is not None:
        drift_at = log.position_of(int(alert["inputs"]["last_id"]))
    label_req = _first(history, "checker", ("alert",), actuator="label_request")
    promote = _first(history, "planner", ("promote",))
    champion = get_alias_version(stack.model_name, "champion", client=get_client(tracking))
    swap = log.first_version_change(baseline)
    server_drift = next((w for w in stack.prediction.drift.results() if w.is_drift), None) \
        if stack.prediction.drift is not None else None
    progress = stack.labels.progress()
    candidates = list(candidates or [])
    promoted_candidate = next((c for c in candidates if champion is not None
                               and str(c.get("version")) == str(champion)), None)

    def when(d: dict[str, Any] | None) -> dict[str, Any] | None:
        if d is None:
            return None
        return {"sample": log.position_at(d["time"]),
                "seconds_after_onset": None if onset_time is None else round(d["time"] - onset_time, 2)}

    reaction = {
        "drift_onset_sample": onset,
        "drift_detected": when(alert),
        "label_request": when(label_req),
        "promotion": when(promote),
        "first_answer_by_new_model": None if swap is None else {
            "sample": swap.start,
            "seconds_after_onset": None if onset_time is None else round(swap.sent_at - onset_time, 2)},
    }
    decisions = [{
        "agent": d["agent"], "decision": d["decision"], "reason": d["reason"], "rule": d["rule"],
        "time": round(d["time"] - started, 2), "sample": log.position_at(d["time"]),
        "actions": [{"actuator": a["actuator"], "status": a["status"]} for a in d.get("actions", [])],
    } for d in history]
    return {
        "application": app.name,
        "mode": "quick" if settings.quick else "full",
        "labeler": "human" if settings.human else "oracle",
        "corruption": settings.corruption,
        "model": stack.model_name,
        "baseline_version": baseline,
        "champion_version": None if champion is None else str(champion),
        "promoted": bool(promote is not None and champion is not None and str(champion) != baseline),
        "accuracy_before": acc_before,
        "accuracy_after": acc_after,
        "accuracy_before_samples": n_before,
        "accuracy_after_samples": n_after,
        "clean_accuracy_before": clean_before,
        "clean_samples": n_clean,
        "drift_onset_sample": onset,
        "drift_detected_at": drift_at,
        "drift_detected_at_serving_window": None if server_drift is None else server_drift.end,
        # the labels the promoted model learned from (or were given, when none was promoted)
        "labels_used": int(promoted_candidate["labels_used"]) if promoted_candidate else int(progress["labeled"]),
        "candidates": candidates,
        "labels": {k: progress[k] for k in ("labeled", "pending", "skipped", "human", "oracle")},
        "samples_streamed": log.n_samples,
        "stream_end": stream_end_reason,
        "reaction": reaction,
        "decisions": decisions,
        "training": {k: training[k] for k in ("run_id", "duration", "cached", "clean_accuracy")},
        "duration_seconds": round(time.time() - started, 1),
        "state_dir": str(app.state_path),
        "tracking_uri": tracking,
        "server_url": server_url,
        "errors": {"oracle": oracle_errors[-3:], "agents": dict(runtime.errors),
                   "serving": stack.prediction.log_errors_[-3:]},
        "settings": settings.to_dict(),
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def report_markdown(s: dict[str, Any]) -> str:
    r = s["reaction"]

    def at(key: str) -> str:
        v = r.get(key)
        if not v:
            return "did not happen"
        secs = v.get("seconds_after_onset")
        return f"sample {v['sample']}" + ("" if secs is None else f", {secs:.1f} s after the onset")

    lines = [
        f"# Scanflow demo — {s['application']}",
        "",
        f"Mode **{s['mode']}**, labels by the **{s['labeler']}**, corruption **{s['corruption']}**, "
        f"{s['samples_streamed']} digits streamed over HTTP in {s['duration_seconds']:.0f} s.",
        "",
        "## Result",
        "",
        "| | value |",
        "| --- | --- |",
        f"| accuracy on corrupted digits, before (v{s['baseline_version']}) | {_pct(s['accuracy_before'])} "
        f"({s['accuracy_before_samples']} digits) |",
        f"| accuracy on corrupted digits, after (v{s['champion_version']}) | {_pct(s['accuracy_after'])} "
        f"({s['accuracy_after_samples']} digits) |",
        f"| accuracy on clean digits, before | {_pct(s['clean_accuracy_before'])} |",
        f"| promoted | {'yes' if s['promoted'] else 'no'} (champion v{s['champion_version']}) |",
        f"| labels used | {s['labels_used']} |",
        f"| drift onset | sample {s['drift_onset_sample']} |",
        f"| drift detected (checker agent) | {at('drift_detected')} |",
        f"| label request | {at('label_request')} |",
        f"| promotion (planner agent) | {at('promotion')} |",
        f"| first answer by the new model | {at('first_answer_by_new_model')} |",
        "",
        "![drift](drift.svg)",
        "",
        "![accuracy](accuracy.svg)",
        "",
        "## What each agent decided, and why",
        "",
        "| t (s) | sample | agent | decision | reason |",
        "| --- | --- | --- | --- | --- |",
    ]
    shown = [d for d in s["decisions"] if d["decision"] not in ("normal",)] or s["decisions"]
    for d in shown:
        reason = d["reason"].replace("|", "\\|")
        lines.append(f"| {d['time']:.1f} | {d['sample']} | {d['agent']} | {d['decision']} | {reason} |")
    hidden = len(s["decisions"]) - len(shown)
    if hidden:
        lines += ["", f"({hidden} routine `normal` decisions not shown; all are in summary.json.)"]
    lines += ["", "## Where to look", "",
              f"- state: `{s['state_dir']}`",
              f"- MLflow UI: `mlflow ui --backend-store-uri {s['tracking_uri']}`",
              "- dashboard again: `scanflow serve` on the state above (see the README)", ""]
    return "\n".join(lines)


def write_outputs(summary: dict[str, Any], folder: Path, log: StreamLog, stack) -> dict[str, str]:
    """Write summary.json, report.md, drift.svg and accuracy.svg into ``folder``."""
    from scanflow.serve.plots import accuracy_plot, drift_plot

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "summary": folder / "summary.json",
        "report": folder / "report.md",
        "drift_plot": folder / "drift.svg",
        "accuracy_plot": folder / "accuracy.svg",
    }
    windows = [w.to_dict() for w in stack.prediction.drift.results()] if stack.prediction.drift else []
    files["drift_plot"].write_text(drift_plot(windows))
    files["accuracy_plot"].write_text(accuracy_plot(log.accuracy_points(),
                                                    title="Accuracy of the served answers"))
    out = {k: str(v) for k, v in files.items()}
    files["summary"].write_text(json.dumps({**summary, "files": out}, indent=2, default=str))
    files["report"].write_text(report_markdown(summary))
    return out
