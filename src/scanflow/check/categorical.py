"""Chi-squared drift test for categorical columns (and the table helpers it shares).

Example:
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"colour": ["red"] * 300 + ["blue"] * 700})
    >>> new = pd.DataFrame({"colour": ["red"] * 60 + ["blue"] * 40})
    >>> r = Chi2Detector().fit(ref).predict(new)
    >>> r.is_drift, r.metadata["columns"]["colour"]["share_after"]["red"]
    (True, 0.6)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .base import Detector, DetectorInputError, PreparedData, align_columns
from .registry import register_detector
from .result import CheckResult
from .stats import CORRECTIONS, adjust_p_values

__all__ = ["Chi2Detector", "to_frame"]


def to_frame(X):
    """A pandas DataFrame with string column names from a DataFrame, 1-D or 2-D array."""
    # lazy: pandas, slow to import; only DataFrame input needs it
    import pandas as pd

    if X is None:
        raise DetectorInputError("X is None; pass a DataFrame or an array")
    if isinstance(X, pd.Series):
        X = X.to_frame(name=str(X.name) if X.name is not None else "value")
    if isinstance(X, pd.DataFrame):
        df = X.copy()
        df.columns = [str(c) for c in df.columns]
        return df
    arr = np.asarray(X)
    if arr.ndim == 0:
        raise DetectorInputError("X is a scalar; pass a column of values or a table")
    if arr.ndim == 1:
        return pd.DataFrame({"value": arr})
    if arr.ndim == 2:
        return pd.DataFrame(arr, columns=[str(i) for i in range(arr.shape[1])])
    raise DetectorInputError(
        f"X has shape {arr.shape}; categorical detectors take a table (n, d) or one column"
    )


def _match_reference_columns(X, df, expected: list[str]):
    """``df`` in the reference column order: by name for DataFrames / Series, by position
    for arrays of the reference width (see :func:`~scanflow.check.base.align_columns`)."""
    # lazy: pandas, slow to import; only DataFrame input needs it
    import pandas as pd

    if isinstance(X, (pd.DataFrame, pd.Series)):
        return align_columns(df, expected)
    if df.shape[1] != len(expected):
        raise DetectorInputError(
            f"X has {df.shape[1]} columns but the detector was fitted on {len(expected)} "
            f"columns {expected}; pass a DataFrame with those columns (matched by name) or "
            "an array with the same columns in the reference order"
        )
    df.columns = expected
    return df


def _categories(series) -> np.ndarray:
    """Values of a column as strings (the category labels stored with the detector)."""
    values = series.to_numpy()
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size and not np.all(finite == np.round(finite)):
            raise DetectorInputError(
                f"column {series.name!r} holds continuous floats; categorical detectors need "
                "labels. Bin the values first or use the 'ks' / 'psi' detectors."
            )
        values = np.where(np.isfinite(values), values, np.nan)
        return np.array([str(int(v)) if np.isfinite(v) else "nan" for v in values], dtype=object)
    return values.astype(str).astype(object)


class CategoricalInputMixin:
    """Input handling for detectors that read columns of labels."""

    input_kinds = ("categorical",)

    def _prepare(self, X, *, fitting: bool) -> PreparedData:
        df = to_frame(X)
        if len(df) == 0:
            raise DetectorInputError("empty batch: X has 0 rows; pass at least one sample")
        if not fitting:
            df = _match_reference_columns(X, df, list(self.feature_names_in_ or []))
        if not self.allow_nan and df.isna().to_numpy().any():
            bad = [c for c in df.columns if df[c].isna().any()]
            raise DetectorInputError(
                f"columns {bad} contain missing values; fill them (e.g. with 'missing') or "
                "run the 'integrity' detector, which reports them"
            )
        values = np.empty(df.shape, dtype=object)
        for j, col in enumerate(df.columns):
            values[:, j] = _categories(df[col])
        return PreparedData(values, "categorical", list(df.columns))


@register_detector("chi2")
class Chi2Detector(CategoricalInputMixin, Detector):
    """Chi-squared test of each column's category counts, reference vs batch.

    Unseen categories count as their own cells (so ``{red, blue} -> {red, blue, black}``
    drifts) and are listed in the metadata. Column p-values are corrected (Bonferroni or
    FDR); drift when the smallest corrected p-value is below ``alpha``. Per-sample score:
    the summed surprise ``-log`` (smoothed) reference frequency of the sample's categories.
    """

    def __init__(self, *, alpha: float = 0.05, correction: str = "bonferroni"):
        self.alpha = alpha
        self.correction = correction

    def _fit(self, data: PreparedData) -> None:
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction={self.correction!r}; choose one of {CORRECTIONS}")
        self.input_shape_ = [data.values.shape[1]]
        self.counts_ = []
        for j in range(data.values.shape[1]):
            cats, counts = np.unique(data.values[:, j].astype(str), return_counts=True)
            self.counts_.append({str(c): int(k) for c, k in zip(cats, counts, strict=True)})

    def _score(self, data: PreparedData) -> np.ndarray:
        total = np.zeros(len(data))
        for j, counts in enumerate(self.counts_):
            n = sum(counts.values())
            k = len(counts)
            freq = np.array([(counts.get(v, 0) + 1.0) / (n + k + 1.0) for v in data.values[:, j]])
            total += -np.log(freq)
        return total

    def _predict(self, data: PreparedData) -> CheckResult:
        columns: dict[str, Any] = {}
        pvals, stats_ = [], []
        for j, (name, ref_counts) in enumerate(zip(self.feature_names_in_, self.counts_,
                                                   strict=True)):
            cats, counts = np.unique(data.values[:, j].astype(str), return_counts=True)
            new_counts = {str(c): int(k) for c, k in zip(cats, counts, strict=True)}
            labels = sorted(set(ref_counts) | set(new_counts))
            table = np.array([[ref_counts.get(c, 0) for c in labels],
                              [new_counts.get(c, 0) for c in labels]], dtype=float)
            if table.shape[1] < 2:
                chi, p = 0.0, 1.0
            else:
                res = stats.chi2_contingency(table, correction=False)
                chi, p = float(res.statistic), float(res.pvalue)
            n_ref, n_new = table[0].sum(), table[1].sum()
            columns[name] = {
                "statistic": chi,
                "p_value": p,
                "unseen_categories": sorted(set(new_counts) - set(ref_counts)),
                "share_before": {c: ref_counts.get(c, 0) / n_ref for c in labels},
                "share_after": {c: new_counts.get(c, 0) / n_new for c in labels},
            }
            pvals.append(p)
            stats_.append(chi)
        adj = adjust_p_values(np.array(pvals), self.correction)
        for name, p in zip(columns, adj, strict=True):
            columns[name]["p_value_adjusted"] = float(p)
        j = int(np.argmin(adj))
        return CheckResult(
            detector=self.name,
            is_drift=bool(adj[j] < self.alpha),
            score=float(stats_[j]),
            threshold=self.alpha,
            p_value=float(adj[j]),
            n_samples=len(data),
            instance_scores=self._score(data),
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": "chi-squared statistic of the most significant column",
                "correction": self.correction,
                "feature_names": list(columns),
                "feature_p_values": adj,
                "feature_statistics": stats_,
                "columns": columns,
                "unseen_categories": {k: v["unseen_categories"] for k, v in columns.items()
                                      if v["unseen_categories"]},
            },
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["counts_"] = self.counts_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.counts_ = meta["counts_"]
