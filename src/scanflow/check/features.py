"""Per-feature results of a check, most drifted first (the CLI's and reports' feature table).

Detectors that test table columns one by one put their per-feature results in the result's
metadata, under ``feature_names`` and one of these keys (first found wins):

* ``feature_p_values`` (with ``feature_statistics`` when there is one): ``ks``, ``chi2``;
  ranked by p-value, smallest first;
* ``feature_psi``: ``psi``; ranked by PSI, largest first;
* ``feature_error_ratio``: ``ae``, ``default`` and ``pca`` on tables, the batch's mean
  squared reconstruction error of the feature divided by the reference's (held-out rows);
  ranked largest first.

Results computed in a latent space (``metadata["space"] == "latent"``) have no per-feature
meaning and give no rows.

Example:
    >>> import numpy as np, pandas as pd
    >>> from scanflow.check import KSDetector
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame(rng.normal(size=(500, 3)), columns=["a", "b", "c"])
    >>> new = ref.iloc[:200].assign(b=lambda d: d.b + 1)
    >>> [row["feature"] for row in feature_ranking(KSDetector().fit(ref).predict(new), top=2)]
    ['b', 'a']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .result import CheckResult

__all__ = ["feature_ranking"]

# metadata key -> (statistic key, statistic label); p-value keys rank ascending
_SCORE_KEYS = (
    ("feature_psi", "PSI"),
    ("feature_error_ratio", "error ratio vs reference"),
)


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def feature_ranking(result: CheckResult, top: int | None = 10) -> list[dict[str, Any]]:
    """Rows ``{"feature", "statistic", "statistic_name", "p_value"}``, most drifted first.

    Empty when the detector reports no per-feature results. ``top=None`` keeps every row.
    """
    meta = result.metadata
    if meta.get("space") == "latent":
        return []
    if meta.get("feature_p_values") is not None:
        p = _floats(meta["feature_p_values"])
        stat = meta.get("feature_statistics")
        stat = _floats(stat) if stat is not None else np.full(len(p), np.nan)
        order = np.lexsort((-np.nan_to_num(stat, nan=-np.inf), np.nan_to_num(p, nan=1.0)))
        name = {"ks": "KS statistic", "chi2": "chi-squared"}.get(result.detector, "statistic")
    else:
        key = next((k for k, _ in _SCORE_KEYS if meta.get(k) is not None), None)
        if key is None:
            return []
        stat = _floats(meta[key])
        p = np.full(len(stat), np.nan)
        order = np.argsort(-np.nan_to_num(stat, nan=-np.inf), kind="stable")
        name = dict(_SCORE_KEYS)[key]
    names = meta.get("feature_names") or [str(i) for i in range(len(stat))]
    rows = [
        {"feature": str(names[j]),
         "statistic": None if np.isnan(stat[j]) else float(stat[j]),
         "statistic_name": name,
         "p_value": None if np.isnan(p[j]) else float(p[j])}
        for j in order
    ]
    return rows if top is None else rows[:top]
