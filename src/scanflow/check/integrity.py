"""Data integrity checks: schema, value ranges, NaN/inf, category balance, unseen categories.

Unlike the statistical detectors, integrity problems are *findings*, not errors: a batch with
missing columns, a new dtype, NaNs or a new category returns ``is_drift=True`` with one
entry per problem in ``metadata["issues"]``. Only unusable input (None, an empty batch, an
unfitted detector) raises.

Example:
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"colour": ["red"] * 30 + ["blue"] * 70, "size": range(100)})
    >>> new = pd.DataFrame({"colour": ["red", "blue", "black"] * 10, "size": range(30)})
    >>> r = IntegrityDetector().fit(ref).predict(new)
    >>> [i["check"] for i in r.metadata["issues"]]
    ['unseen_categories']
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .base import Detector, DetectorInputError, PreparedData
from .categorical import to_frame
from .registry import register_detector
from .result import CheckResult

__all__ = ["IntegrityDetector"]


def _is_numeric(series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


@register_detector("integrity")
class IntegrityDetector(Detector):
    """Schema, range, missing-value and category checks against the reference.

    Parameters:
        max_categories: integer columns with at most this many distinct reference values
            (class labels, codes) are checked as categories; strings/bools always are.
        range_margin: tolerated overshoot of the reference [min, max], as a share of the
            reference span.
        range_tolerance: share of out-of-range values in a column tolerated before an issue.
        alpha: significance of the balance (chi-squared goodness-of-fit) and NaN-rate tests.
        min_share_change: smallest change of a category share that counts as imbalance.
    """

    input_kinds = ("table", "categorical", "image")
    allow_nan = True
    reports_schema = True

    def __init__(self, *, max_categories: int = 20, range_margin: float = 0.05,
                 range_tolerance: float = 0.01, alpha: float = 0.05,
                 min_share_change: float = 0.1):
        self.max_categories = max_categories
        self.range_margin = range_margin
        self.range_tolerance = range_tolerance
        self.alpha = alpha
        self.min_share_change = min_share_change

    # ------------------------------------------------------------------ input
    def _prepare(self, X, *, fitting: bool) -> PreparedData:
        if X is None:
            raise DetectorInputError("X is None; pass an array or a DataFrame")
        if hasattr(X, "columns") or np.ndim(X) <= 2:
            df = to_frame(X)
            if len(df) == 0:
                raise DetectorInputError("empty batch: X has 0 rows; pass at least one sample")
            return PreparedData(df, "table", list(df.columns))
        arr = np.asarray(X)
        if arr.shape[0] == 0:
            raise DetectorInputError("empty batch: X has no samples; pass at least one sample")
        return PreparedData(arr, "image", None)

    # ------------------------------------------------------------------ fit
    def _fit(self, data: PreparedData) -> None:
        self.input_shape_ = []
        if data.kind == "image":
            arr = data.values
            finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
            self.spec_ = {
                "kind": "image",
                "sample_shape": list(arr.shape[1:]),
                "dtype": str(arr.dtype),
                "min": float(finite.min()) if finite.size else 0.0,
                "max": float(finite.max()) if finite.size else 0.0,
                "nan_share": float(np.isnan(arr).mean()) if arr.dtype.kind == "f" else 0.0,
            }
            return
        df = data.values
        columns = []
        for name in df.columns:
            col = df[name]
            spec: dict[str, Any] = {"name": name, "dtype": str(col.dtype),
                                    "nan_share": float(col.isna().mean())}
            values = col.dropna()
            numeric = _is_numeric(col)
            integer_like = numeric and values.size and np.all(
                np.asarray(values, dtype=float) == np.round(np.asarray(values, dtype=float)))
            if not numeric or (integer_like and values.nunique() <= self.max_categories):
                spec["kind"] = "categorical"
                shares = values.astype(str).value_counts(normalize=True)
                spec["shares"] = {str(k): float(v) for k, v in shares.items()}
            else:
                spec["kind"] = "numeric"
                v = np.asarray(values, dtype=float)
                v = v[np.isfinite(v)]
                spec["min"] = float(v.min()) if v.size else 0.0
                spec["max"] = float(v.max()) if v.size else 0.0
            columns.append(spec)
        self.spec_ = {"kind": "table", "columns": columns}

    def _score(self, data: PreparedData) -> np.ndarray:
        return self._check(data)[1]

    # ------------------------------------------------------------------ checks
    def _check(self, data: PreparedData) -> tuple[list[dict], np.ndarray]:
        if self.spec_["kind"] == "image":
            return self._check_images(data)
        return self._check_table(data)

    def _issue(self, check: str, message: str, column: str | None = None, **extra):
        return {"check": check, "column": column, "message": message, **extra}

    def _check_images(self, data: PreparedData):
        spec = self.spec_
        if data.kind != "image":
            v = data.values
            return [self._issue("schema", f"expected images {spec['sample_shape']}, got a "
                                          f"table with {v.shape[1]} columns")], np.ones(len(v))
        arr = data.values
        issues = []
        per_sample = np.zeros(len(arr))
        if list(arr.shape[1:]) != spec["sample_shape"]:
            issues.append(self._issue(
                "schema", f"sample shape {list(arr.shape[1:])} differs from the reference "
                          f"{spec['sample_shape']}"))
            return issues, np.ones(len(arr))
        if str(arr.dtype) != spec["dtype"]:
            issues.append(self._issue("dtype", f"dtype {arr.dtype} differs from the reference "
                                               f"{spec['dtype']}"))
        flat = arr.reshape(len(arr), -1)
        if flat.dtype.kind in "fc":
            nan_rows = ~np.isfinite(flat).all(1)
            if nan_rows.any():
                issues.append(self._issue("missing", f"{int(nan_rows.sum())} samples contain "
                                                     "NaN or inf", n_rows=int(nan_rows.sum())))
            per_sample += nan_rows
        if flat.dtype.kind in "biuf":
            with np.errstate(invalid="ignore"):
                out = ((flat < spec["min"]) | (flat > spec["max"])).any(1)
            if out.mean() > self.range_tolerance:
                issues.append(self._issue(
                    "range", f"{int(out.sum())} samples have values outside the reference "
                             f"range [{spec['min']:g}, {spec['max']:g}]", n_rows=int(out.sum())))
            per_sample += out
        else:
            issues.append(self._issue("dtype", f"dtype {arr.dtype} is not numeric"))
        return issues, per_sample

    def _check_table(self, data: PreparedData):
        spec = self.spec_
        if data.kind != "table":
            n = len(data.values)
            return [self._issue("schema", f"expected a table, got images of shape "
                                          f"{list(data.values.shape[1:])}")], np.ones(n)
        df = data.values
        issues: list[dict] = []
        per_row = np.zeros(len(df))
        expected = [c["name"] for c in spec["columns"]]
        missing = [c for c in expected if c not in df.columns]
        extra = [c for c in df.columns if c not in expected]
        if missing:
            issues.append(self._issue("schema", f"missing columns {missing}", missing=missing))
        if extra:
            issues.append(self._issue("schema", f"unexpected columns {extra}", extra=extra))
        if missing or extra:
            if not set(expected) & set(df.columns):
                return issues, np.ones(len(df))
        n_cat = sum(c["kind"] == "categorical" for c in spec["columns"])
        for c in spec["columns"]:
            name = c["name"]
            if name not in df.columns:
                continue
            col = df[name]
            nan = col.isna().to_numpy()
            if nan.any():
                k, n = int(nan.sum()), len(nan)
                p = (0.0 if c["nan_share"] == 0
                     else stats.binomtest(k, n, c["nan_share"], alternative="greater").pvalue)
                if p < self.alpha:
                    issues.append(self._issue(
                        "missing", f"{k}/{n} missing values (reference share "
                                   f"{c['nan_share']:.3g})", name, n_rows=k))
                    per_row += nan
            values = col[~nan]
            if c["kind"] == "numeric":
                if not _is_numeric(col):
                    issues.append(self._issue("dtype", f"dtype {col.dtype} is not numeric "
                                                       f"(reference {c['dtype']})", name))
                    per_row += 1
                    continue
                v = col.to_numpy(dtype=float, na_value=np.nan)
                inf = np.isinf(v)
                if inf.any():
                    issues.append(self._issue("missing", f"{int(inf.sum())} infinite values",
                                              name, n_rows=int(inf.sum())))
                    per_row += inf
                span = max(c["max"] - c["min"], 1e-12)
                lo = c["min"] - self.range_margin * span
                hi = c["max"] + self.range_margin * span
                with np.errstate(invalid="ignore"):
                    out = np.isfinite(v) & ((v < lo) | (v > hi))
                if out.mean() > self.range_tolerance:
                    issues.append(self._issue(
                        "range", f"{int(out.sum())} values outside the reference range "
                                 f"[{c['min']:g}, {c['max']:g}] (observed "
                                 f"[{np.nanmin(v):g}, {np.nanmax(v):g}])", name,
                        n_rows=int(out.sum())))
                per_row += out
            else:
                labels = values.astype(str)
                known = c["shares"]
                unseen_mask = ~labels.isin(list(known)).to_numpy()
                if unseen_mask.any():
                    unseen = sorted(set(labels[unseen_mask]))
                    issues.append(self._issue(
                        "unseen_categories", f"categories never seen in the reference: "
                                             f"{unseen}", name, categories=unseen))
                    rows = np.zeros(len(df), dtype=bool)
                    rows[np.flatnonzero(~nan)[unseen_mask]] = True
                    per_row += rows
                seen = labels[~unseen_mask]
                if len(seen) and len(known) > 1:
                    cats = sorted(known)
                    observed = np.array([(seen == k).sum() for k in cats], dtype=float)
                    expected_share = np.array([known[k] for k in cats])
                    p = float(stats.chisquare(observed, expected_share * observed.sum()).pvalue)
                    after = observed / observed.sum()
                    change = float(np.abs(after - expected_share).max())
                    if p < self.alpha / max(1, n_cat) and change >= self.min_share_change:
                        issues.append(self._issue(
                            "balance",
                            "category shares changed: " + ", ".join(
                                f"{k} {b:.0%} -> {a:.0%}"
                                for k, b, a in zip(cats, expected_share, after, strict=True)),
                            name, p_value=p, max_share_change=change,
                            share_before=dict(zip(cats, expected_share.tolist(), strict=True)),
                            share_after=dict(zip(cats, after.tolist(), strict=True))))
        return issues, per_row

    def _predict(self, data: PreparedData) -> CheckResult:
        issues, per_row = self._check(data)
        return CheckResult(
            detector=self.name,
            is_drift=bool(issues),
            score=float(len(issues)),
            threshold=0.0,
            n_samples=len(per_row),
            is_outlier=per_row > 0,
            instance_scores=per_row,
            instance_threshold=0.0,
            metadata={
                "decision_rule": "score > threshold (number of integrity issues)",
                "score_name": "number of integrity issues",
                "issues": issues,
                "checks": sorted({i["check"] for i in issues}),
            },
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["spec_"] = self.spec_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.spec_ = meta["spec_"]
