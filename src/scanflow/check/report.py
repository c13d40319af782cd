"""HTML report of a check: summary, score histograms, per-feature p-values, worst samples.

A Jinja2 template (``templates/html/check_report.html.j2``) with matplotlib PNGs embedded as
base64, so the report is one self-contained file.

Example:
    >>> import numpy as np
    >>> from scanflow.check import KSDetector
    >>> rng = np.random.default_rng(0)
    >>> det = KSDetector().fit(rng.normal(size=(300, 3)))
    >>> html = render_report(det.predict(rng.normal(size=(50, 3))), det)
    >>> "<img" in html and "ks" in html
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..html import figure_png, render
from .features import feature_ranking
from .result import CheckResult

__all__ = ["render_report", "write_report"]


def _histogram(ref_scores, new_scores, result: CheckResult) -> str | None:
    # lazy: matplotlib (importing scanflow.check must not load it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy: pyplot only after choosing the Agg backend above
    import matplotlib.pyplot as plt

    new = np.asarray([s for s in (new_scores or []) if s is not None], dtype=float)
    if new.size == 0:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    series = [new] if ref_scores is None else [np.asarray(ref_scores, dtype=float), new]
    lo = min(s.min() for s in series)
    hi = max(s.max() for s in series)
    bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
    if ref_scores is not None:
        ax.hist(series[0], bins=bins, density=True, alpha=0.5, label="reference (held out)")
    ax.hist(new, bins=bins, density=True, alpha=0.5, label="new batch")
    if result.instance_threshold is not None:
        ax.axvline(result.instance_threshold, color="red", ls="--", label="threshold")
    lower = result.metadata.get("lower_instance_threshold")
    if lower is not None:
        ax.axvline(lower, color="red", ls=":", label="lower threshold")
    ax.set_xlabel("per-sample score")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title("Per-sample scores: reference vs new")
    return figure_png(fig)


def _feature_pvalues(result: CheckResult) -> str | None:
    p = result.metadata.get("feature_p_values")
    if not p:
        return None
    # lazy: matplotlib (importing scanflow.check must not load it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy: pyplot only after choosing the Agg backend above
    import matplotlib.pyplot as plt

    p = np.clip(np.asarray([1.0 if v is None else v for v in p], dtype=float), 1e-300, 1)
    names = result.metadata.get("feature_names") or [str(i) for i in range(len(p))]
    order = np.argsort(p)[:30]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.25 * len(order) + 1)))
    ax.barh([str(names[i]) for i in order][::-1], -np.log10(p[order])[::-1])
    if result.threshold is not None and result.p_value is not None:
        ax.axvline(-np.log10(result.threshold), color="red", ls="--", label="significance")
        ax.legend(fontsize=8)
    ax.set_xlabel("-log10 corrected p-value")
    ax.set_title("Most drifted features")
    return figure_png(fig)


def _worst_images(X_new, result: CheckResult, k: int = 8) -> str | None:
    if X_new is None or result.instance_scores is None:
        return None
    X = np.asarray(X_new)
    if X.ndim < 3:
        return None
    # lazy: matplotlib (importing scanflow.check must not load it)
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy: pyplot only after choosing the Agg backend above
    import matplotlib.pyplot as plt

    scores = np.asarray([-np.inf if s is None else s for s in result.instance_scores])
    order = np.argsort(-scores)[:k]
    fig, axes = plt.subplots(1, len(order), figsize=(1.4 * len(order), 1.8))
    for ax, i in zip(np.atleast_1d(axes), order, strict=False):
        img = X[i]
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = np.moveaxis(img, 0, -1)
        ax.imshow(img.squeeze(), cmap="gray")
        ax.set_title(f"#{i}\n{scores[i]:.3g}", fontsize=7)
        ax.axis("off")
    fig.suptitle("Most anomalous samples (score)", fontsize=9)
    return figure_png(fig)


_PLAIN_META = ("feature_p_values", "feature_statistics", "feature_names", "feature_psi",
               "feature_error_ratio")


def _summary(result: CheckResult, sources: dict[str, Any] | None) -> list[tuple[str, Any]]:
    rows = [("detector", result.detector), ("samples", result.n_samples), ("score", result.score),
            ("threshold", result.threshold), ("p-value", result.p_value),
            ("decision rule", result.metadata.get("decision_rule", ""))]
    if result.is_outlier is not None:
        rows.append(("flagged samples", f"{result.n_outliers} / {len(result.is_outlier)}"))
    return rows + list((sources or {}).items())


def _features(result: CheckResult, detector, top: int = 20) -> list[dict]:
    """The most drifted features of table data (see :func:`feature_ranking`)."""
    if getattr(detector, "input_kind_", None) == "image":
        return []
    return feature_ranking(result, top=top)


def render_report(result: CheckResult, detector=None, *, X_new=None, reference_scores=None,
                  title: str = "Scanflow check report", sources: dict[str, Any] | None = None
                  ) -> str:
    """The report of one check as an HTML string (the Jinja2 template ``check_report.html.j2``)."""
    if reference_scores is None and detector is not None:
        reference_scores = detector.reference_scores()
    plots = [("Score distributions", _histogram(reference_scores, result.instance_scores, result)),
             ("Per-feature p-values", _feature_pvalues(result)),
             ("Most anomalous samples", _worst_images(X_new, result))]
    meta = {k: v for k, v in result.metadata.items() if k not in _PLAIN_META}
    return render("check_report.html.j2", title=title, result=result,
                  summary=_summary(result, sources), components=result.metadata.get("components"),
                  issues=result.metadata.get("issues"), features=_features(result, detector),
                  plots=[(label, png) for label, png in plots if png],
                  details=json.dumps(meta, indent=2, default=str)[:20000])


def write_report(path: str | Path, result: CheckResult, detector=None, **kwargs) -> Path:
    """Write :func:`render_report` to ``path`` (folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, detector, **kwargs), encoding="utf-8")
    return path
