"""HTML report of a check: summary, score histograms, per-feature p-values, worst samples.

Plots are matplotlib PNGs embedded as base64, so the report is one self-contained file.

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

import base64
import html as _html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .features import feature_ranking
from .result import CheckResult

__all__ = ["render_report", "write_report"]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    # lazy: matplotlib (importing scanflow.check must not load it)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


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
    return _png(fig)


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
    return _png(fig)


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
    return _png(fig)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
text-align:left}.drift{color:#b00;font-weight:bold}.ok{color:#070;font-weight:bold}
img{max-width:100%;display:block;margin:1em 0}code,pre{background:#f5f5f5;padding:2px 4px}"""


def _row(key, value) -> str:
    return f"<tr><th>{_html.escape(str(key))}</th><td>{_html.escape(str(value))}</td></tr>"


def _features_html(result: CheckResult, detector, top: int = 20) -> str:
    """The most drifted features of table data (see :func:`feature_ranking`), as a table."""
    if getattr(detector, "input_kind_", None) == "image":
        return ""
    rows = feature_ranking(result, top=top)
    if not rows:
        return ""
    head = (f"<h2>Most drifted features</h2><table><tr><th>feature</th>"
            f"<th>{_html.escape(rows[0]['statistic_name'])}</th><th>p-value</th></tr>")
    def number(v, fmt):
        return "—" if v is None else format(v, fmt)

    body = "".join(
        f"<tr><td>{_html.escape(r['feature'])}</td><td>{number(r['statistic'], '.4g')}</td>"
        f"<td>{number(r['p_value'], '.3g')}</td></tr>" for r in rows)
    return head + body + "</table>"


def render_report(result: CheckResult, detector=None, *, X_new=None, reference_scores=None,
                  title: str = "Scanflow check report", sources: dict[str, Any] | None = None
                  ) -> str:
    """The report of one check as an HTML string."""
    if reference_scores is None and detector is not None:
        reference_scores = detector.reference_scores()
    verdict = ("<span class='drift'>DRIFT</span>" if result.is_drift
               else "<span class='ok'>no drift</span>")
    rows = [
        _row("detector", result.detector),
        _row("samples", result.n_samples),
        _row("score", result.score),
        _row("threshold", result.threshold),
        _row("p-value", result.p_value),
        _row("decision rule", result.metadata.get("decision_rule", "")),
    ]
    if result.is_outlier is not None:
        rows.append(_row("flagged samples", f"{result.n_outliers} / {len(result.is_outlier)}"))
    for key, value in (sources or {}).items():
        rows.append(_row(key, value))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>{_html.escape(title)}</h1><p>Verdict: {verdict}</p>",
             "<table>" + "".join(rows) + "</table>"]
    components = result.metadata.get("components")
    if components:
        parts.append("<h2>Components</h2><table><tr><th>test</th><th>drift</th><th>score</th>"
                     "<th>p-value</th></tr>")
        for name, comp in components.items():
            parts.append(f"<tr><td>{_html.escape(name)}</td><td>{comp.get('is_drift')}</td>"
                         f"<td>{comp.get('score')}</td><td>{comp.get('p_value')}</td></tr>")
        parts.append("</table>")
    issues = result.metadata.get("issues")
    if issues is not None:
        parts.append("<h2>Integrity issues</h2>")
        if issues:
            parts.append("<table><tr><th>check</th><th>column</th><th>message</th></tr>")
            for i in issues:
                parts.append(f"<tr><td>{_html.escape(str(i.get('check')))}</td>"
                             f"<td>{_html.escape(str(i.get('column') or ''))}</td>"
                             f"<td>{_html.escape(str(i.get('message')))}</td></tr>")
            parts.append("</table>")
        else:
            parts.append("<p>None.</p>")
    parts.append(_features_html(result, detector))
    for label, png in (("Score distributions", _histogram(reference_scores,
                                                           result.instance_scores, result)),
                       ("Per-feature p-values", _feature_pvalues(result)),
                       ("Most anomalous samples", _worst_images(X_new, result))):
        if png:
            parts.append(f"<h2>{label}</h2><img alt='{label}' src='data:image/png;base64,{png}'>")
    meta = {k: v for k, v in result.metadata.items()
            if k not in ("feature_p_values", "feature_statistics", "feature_names",
                         "feature_psi", "feature_error_ratio")}
    parts.append("<h2>Details</h2><pre>" + _html.escape(json.dumps(meta, indent=2)[:20000])
                 + "</pre></body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, result: CheckResult, detector=None, **kwargs) -> Path:
    """Write :func:`render_report` to ``path`` (folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result, detector, **kwargs), encoding="utf-8")
    return path
