"""The demo's report: ``summary.json``, ``report.md`` and ``report.html`` with SVG plots of drift
and accuracy over the stream (shifted phases shaded, model swaps marked).

``report.html`` is the Markdown report rendered (markdown-it-py) into one self-contained page:
its tables as HTML tables and the two plots inline, so it opens anywhere without its folder."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from scanflow.html import markdown_page
from scanflow.serve.plots import accuracy_plot, drift_plot

from .summary import notable_decisions

__all__ = ["report_html", "report_markdown", "write_outputs"]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _phase_table(s: dict[str, Any]) -> list[str]:
    lines = ["| phase | samples | accuracy before | after | promoted | alarms | label requests |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for p in s["phases"]:
        since = {"settled": "once settled", "last promotion": "after promotion"}.get(
            p["counted_from"], "in phase")
        lines.append(f"| {p['name']} | {p['samples'][0]}–{p['samples'][1]} | "
                     f"{_pct(p['accuracy_before'])} ({p['answers_before']}) | "
                     f"{_pct(p['accuracy_after'])} ({p['answers_after']}) | "
                     f"{', '.join('v' + v for v in p['promotions']) or '—'} | "
                     f"{p['alarms']} ({since}) | {p['label_requests']} ({since}) |")
    return lines


def _episode_table(s: dict[str, Any]) -> list[str]:
    lines = ["| episode | shift | status | labels answered (people / oracle) | asked | skipped | "
             "trained on | held out | onset → first promotion | zero-label response |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in s["episodes"]:
        lab = e["labels"]
        promo = e["promotions"][0] if e["promotions"] else None
        when = (f"{e['samples_onset_to_promotion']} samples, {promo['seconds_after_onset']} s"
                if promo else "not promoted")
        zero = e["zero_label"]
        zero_text = "—" if not zero else f"{zero['method']} v{zero['version']}" + (
            " (promoted)" if zero["promoted"] else " (not promoted)")
        lines.append(f"| {e['id']} | {e['phase']} | {e['status']} | {lab['answered']} "
                     f"({lab['human']} / {lab['oracle']}) | {lab['requested']} | {lab['skipped']} | "
                     f"{lab['trained_on']} | {lab['held_out']} | {when} | {zero_text} |")
    return lines


def report_markdown(s: dict[str, Any]) -> str:
    lab = s["labels"]
    lines = [f"# Scanflow demo — {s['application']} ({s['example']})", "",
             f"Mode **{s['mode']}**, labels by the **{s['labeler']}**; {s['samples_streamed']} samples "
             f"streamed over HTTP in {s['duration_seconds']:.0f} s ({s['stream_end']}).", "",
             f"**Labels answered: {lab['answered']}** (people {lab['human']}, oracle {lab['oracle']}; "
             f"asked {lab['requested']}, skipped {lab['skipped']}, used for training "
             f"{lab['used_for_training']}, held out for the gate {lab['held_out_for_gate']}).", "",
             "## Phases", "", *_phase_table(s), "",
             "![drift](drift.svg)", "", "![accuracy](accuracy.svg)", "",
             "## Drift episodes", "", *_episode_table(s), "",
             "## What each agent decided, and why", "",
             "| t (s) | sample | agent | decision | reason |", "| --- | --- | --- | --- | --- |"]
    shown = notable_decisions(s["decisions"])
    for d in shown:
        reason = d["reason"].replace("|", "\\|")
        what = d["decision"] + (f" ×{d['count']}" if d["count"] > 1 else "")
        lines.append(f"| {d['time']:.1f} | {d['sample']} | {d['agent']} | {what} | {reason} |")
    hidden = len(s["decisions"]) - sum(d["count"] for d in shown)
    if hidden:
        lines += ["", f"({hidden} routine `normal` / `wait` decisions not shown; all are in summary.json.)"]
    lines += ["", "## Where to look", "", f"- state: `{s['state_dir']}`",
              f"- MLflow UI: `mlflow ui --backend-store-uri {s['tracking_uri']}`",
              f"- the dashboard again: `{s['serve_command']}`", ""]
    return "\n".join(lines)


def report_html(markdown_text: str, plots: dict[str, str]) -> str:
    """The Markdown report as one HTML page, the SVG ``plots`` (by file name) inline."""
    page = markdown_page(markdown_text, title="Scanflow demo")
    for name, svg in plots.items():
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        page = page.replace(f'src="{name}"', f'src="data:image/svg+xml;base64,{data}"')
    return page


def write_outputs(summary: dict[str, Any], folder: Path, demo) -> dict[str, str]:
    """Write summary.json, report.md, report.html, drift.svg and accuracy.svg into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    phases = demo.log.phases()
    drift = demo.stack.prediction.drift
    windows = [w.to_dict() for w in drift.results()] if drift is not None else []
    plots = {"drift.svg": drift_plot(windows, phases=phases),
             "accuracy.svg": accuracy_plot(demo.log.accuracy_points(), phases=phases,
                                           title="Accuracy of the served answers")}
    files = {"summary": folder / "summary.json", "report": folder / "report.md",
             "html": folder / "report.html", "drift_plot": folder / "drift.svg",
             "accuracy_plot": folder / "accuracy.svg"}
    for name, svg in plots.items():
        (folder / name).write_text(svg)
    out = {k: str(v) for k, v in files.items()}
    text = report_markdown(summary)
    files["report"].write_text(text)
    files["html"].write_text(report_html(text, plots))
    files["summary"].write_text(json.dumps({**summary, "files": out}, indent=2, default=str))
    return out
