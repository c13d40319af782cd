"""Inline SVG plots for the dashboard and the demo report (matplotlib, no display needed).

    >>> svg = drift_plot([{"start": 0, "end": 100, "score": 0.1, "p_value": 0.5, "is_drift": False,
    ...                    "threshold": 0.05, "outlier_share": 0.04}])
    >>> svg.lstrip().startswith("<svg") or svg.lstrip().startswith("<?xml")
    True
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["accuracy_plot", "drift_plot", "empty_plot"]

# pyplot keeps global state; figures are built with the object API under one lock.
_LOCK = threading.Lock()


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _figure(width: float = 7.0, height: float = 2.6):
    # lazy: matplotlib, slow to import; only drawing a plot needs it
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def empty_plot(message: str) -> str:
    """A small SVG saying there is nothing to plot yet."""
    with _LOCK:
        fig, ax = _figure(height=1.2)
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", color="#868e96", fontsize=11)
        return _svg(fig)


def _phase_bands(ax, phases: Sequence[dict[str, Any]] | None) -> None:
    """Shade the shift phases of a stream and name every phase above the plot."""
    for p in phases or ():
        if p.get("shift"):
            ax.axvspan(p["start"], p["end"], color="#fff3bf", alpha=0.7, lw=0, zorder=0)
        ax.text((p["start"] + p["end"]) / 2, 1.09, p["name"], ha="center", va="bottom",
                fontsize=7, color="#868e96")


def _episode_bands(ax, episodes: Sequence[dict[str, Any]] | None, label_y: float) -> None:
    """Shade each drift episode's span (``{"label", "start", "end", "settled"}``, in stream
    positions), name it at ``label_y``, and mark where it started settling with a dashed line."""
    for e in episodes or ():
        ax.axvspan(e["start"], e["end"], color="#d0bfff", alpha=0.35, lw=0, zorder=0.5)
        for x in (e["start"], e["end"]):
            ax.axvline(x, color="#7048e8", lw=0.6, alpha=0.6)
        ax.text(e["start"], label_y, f" {e['label']}", color="#5f3dc4", fontsize=7, va="bottom")
        if e.get("settled") is not None:
            ax.axvline(e["settled"], color="#7048e8", lw=1, ls="--")
            ax.text(e["settled"], 0.93, " settled", color="#5f3dc4", fontsize=7, va="bottom")


def drift_plot(windows: Sequence[dict[str, Any]], *, title: str = "Drift over time",
               phases: Sequence[dict[str, Any]] | None = None,
               episodes: Sequence[dict[str, Any]] | None = None) -> str:
    """Share of flagged inputs and the window test's p-value, per window of the stream.

    Windows that drifted are shaded red; a vertical line marks each model swap (the window's
    ``model_version`` changing). ``episodes`` (``{"label", "start", "end", "settled"}`` in
    stream positions, ``settled`` optional) are shaded purple from opening to resolution.
    """
    if not windows:
        return empty_plot("no drift window checked yet")
    with _LOCK:
        fig, ax = _figure()
        mid = [(w["start"] + w["end"]) / 2 for w in windows]
        share = [w.get("outlier_share") for w in windows]
        if any(s is not None for s in share):
            ax.plot(mid, [float("nan") if s is None else s for s in share], "o-", color="#1c7ed6",
                    ms=3, lw=1.5, label="share of inputs flagged as outliers")
        pvals = [w.get("p_value") for w in windows]
        if any(p is not None for p in pvals):
            ax.plot(mid, [float("nan") if p is None else p for p in pvals], "s--", color="#495057",
                    ms=3, lw=1, label="window test p-value")
            thr = windows[-1].get("threshold")
            if thr is not None:
                ax.axhline(thr, color="#e03131", lw=0.8, ls=":", label=f"significance {thr:g}")
        _phase_bands(ax, phases)
        top = 1.14 if phases else 1.08
        _episode_bands(ax, episodes, label_y=top + 0.01)
        for w in windows:
            if w.get("is_drift"):
                ax.axvspan(w["start"], w["end"], color="#ffc9c9", alpha=0.6, lw=0)
        prev = windows[0].get("model_version")
        for w in windows[1:]:
            if w.get("model_version") != prev:
                ax.axvline(w["start"], color="#2b8a3e", lw=1.5)
                ax.text(w["start"], 1.02, f" v{w.get('model_version')}", color="#2b8a3e",
                        fontsize=8, va="bottom")
                prev = w.get("model_version")
        ax.set_ylim(-0.02, top + (0.08 if episodes else 0))
        ax.set_xlabel("sample index in the served stream")
        legend = ["red: drift detected", *(["yellow: shifted data"] if phases else []),
                  *(["purple: drift episodes"] if episodes else [])]
        ax.set_title(f"{title} ({'; '.join(legend)})", fontsize=10, loc="left")
        # episode names run along the top: the legend goes beside the plot, not over them
        ax.legend(loc="upper left", fontsize=7, frameon=False,
                  bbox_to_anchor=(1.01, 1.0) if episodes else None)
        ax.grid(alpha=0.25)
        return _svg(fig)


def accuracy_plot(points: Sequence[dict[str, Any]], *, title: str = "Accuracy",
                  phases: Sequence[dict[str, Any]] | None = None) -> str:
    """Accuracy per segment of the stream (``{"x", "accuracy", "series"}`` points); shift
    ``phases`` (``{"name", "start", "end", "shift"}``) are shaded."""
    if not points:
        return empty_plot("no accuracy measured yet")
    with _LOCK:
        fig, ax = _figure()
        _phase_bands(ax, phases)
        series: dict[str, list[tuple[float, float]]] = {}
        for p in points:
            series.setdefault(str(p.get("series", "accuracy")), []).append(
                (float(p["x"]), float(p["accuracy"]))
            )
        for name, xy in series.items():
            xs, ys = zip(*sorted(xy), strict=True)
            ax.plot(xs, ys, "o-", ms=3, lw=1.5, label=name)
        ax.set_ylim(0, 1.14 if phases else 1.02)
        ax.set_xlabel("sample index in the served stream")
        ax.set_title(title + (" (yellow: shifted data)" if phases else ""), fontsize=10, loc="left")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
        ax.grid(alpha=0.25)
        return _svg(fig)
