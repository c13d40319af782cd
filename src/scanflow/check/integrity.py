"""Data integrity checks: schema, value ranges, NaN/inf, category balance, unseen categories.

Unlike the statistical detectors, integrity problems are *findings*, not errors: a batch with
missing columns, a new dtype, NaNs or a new category returns ``is_drift=True`` with one
entry per problem in ``metadata["issues"]``. Only unusable input (None, an empty batch, an
unfitted detector) raises. Columns are matched by name: reordered columns are no issue.

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
from scipy import special, stats

from .base import Detector, DetectorInputError, PreparedData
from .categorical import to_frame
from .registry import register_detector
from .result import CheckResult

__all__ = ["IntegrityDetector", "balance_p_value"]


def _is_numeric(series) -> bool:
    # lazy: pandas, slow to import; only DataFrame input needs it
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _smallest_batch(a: float, b: float, alpha: float, largest: int = 100_000) -> int | None:
    """Smallest ``m`` such that ``m`` events in ``m`` rows have probability below ``alpha``
    when the event rate is Beta(a, b) (the beta-binomial probability of ``m`` out of ``m``)."""
    m = np.arange(1, largest + 1, dtype=np.float64)
    log_p = special.betaln(m + a, b) - special.betaln(a, b)
    hits = np.flatnonzero(log_p < np.log(alpha))
    return int(m[hits[0]]) if hits.size else None


def balance_p_value(reference_counts, batch_counts, *, n_simulations: int = 2000,
                    seed: int = 0) -> float:
    """Two-sample test that a batch's category counts come from the reference's distribution.

    Chi-squared on the 2 x k table when every expected count is at least 5; otherwise the
    same statistic with its p-value from ``n_simulations`` tables with the same margins
    (multivariate hypergeometric, seeded), which stays exact on small batches and rare
    categories, where the chi-squared approximation raises false alarms.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    new = np.asarray(batch_counts, dtype=np.float64)
    keep = (ref + new) > 0
    ref, new = ref[keep], new[keep]
    total = ref + new
    if len(total) < 2 or new.sum() == 0 or ref.sum() == 0:
        return 1.0
    e_new = total * new.sum() / total.sum()
    e_ref = total - e_new
    if min(e_new.min(), e_ref.min()) >= 5:
        return float(stats.chi2_contingency(np.array([ref, new]), correction=False).pvalue)

    def statistic(b):
        return ((b - e_new) ** 2 / e_new).sum(-1) + ((total - b - e_ref) ** 2 / e_ref).sum(-1)

    rng = np.random.default_rng(seed)
    sims = rng.multivariate_hypergeometric(total.astype(np.int64), int(new.sum()),
                                           size=n_simulations)
    extreme = (statistic(sims) >= statistic(new) - 1e-9).sum()
    return float((1.0 + extreme) / (1.0 + n_simulations))


@register_detector("integrity")
class IntegrityDetector(Detector):
    """Schema, range, missing-value and category checks against the reference.

    Findings of two sorts make ``metadata["issues"]`` (``is_drift`` when there is any):

    * deterministic, reported whatever the batch size: missing or unexpected columns
      (named; columns are matched by name, so their order does not matter; an array of the
      reference width is taken positionally), a dtype that is no longer numeric, infinite
      values, unseen categories, and missing values in a column that had none in the
      reference;
    * statistical, each a test at ``alpha / n_tests`` (Bonferroni over every statistical
      test of the table), so a clean batch of any size raises one with probability at most
      ``alpha``:

      - range: the count of values outside the reference ``[min, max]`` (widened by
        ``range_margin``) is tested against the beta-binomial law it follows under the
        reference, Beta(2, n_ref - 1) per row (the mass outside the range of ``n_ref``
        reference values), and must also exceed ``range_tolerance`` of the batch. A small
        reference has a narrow range; this test knows it.
      - missing rate (columns that had missing values): beta-binomial with the rate
        Beta(k_ref + 1/2, n_ref - k_ref + 1/2), so the reference rate's own uncertainty
        counts.
      - balance: a two-sample test of the category counts, reference vs batch (chi-squared,
        or its exact Monte Carlo version when an expected count is below 5, see
        :func:`balance_p_value`), and a share change of at least ``min_share_change``.

    Per-row flags (``is_outlier``) mark rows with an out-of-range value, an infinite value,
    an unseen category, or a missing value that is part of a finding, even when the batch
    count is not significant.

    Batch size: ``min_batch_size_`` (learned at fit) is the smallest batch on which every
    statistical test can fire at all (all of its rows out of range, missing, or in the
    rarest category). Below it the result says so in ``metadata["below_min_batch_size"]``
    and ``metadata["note"]``: only the deterministic findings and the tests that can
    already fire remain; nothing alarms on chance alone.

    Parameters:
        max_categories: an integer-valued numeric column (class labels, codes) is checked as
            categories when it has at most this many distinct reference values AND the
            reference holds at least 5 rows per value on average; otherwise it is numeric
            and gets the range check (a small reference would make every new integer an
            "unseen category"). Strings and bools always are categories.
        range_margin: tolerated overshoot of the reference [min, max], as a share of the
            reference span.
        range_tolerance: share of out-of-range values in a column tolerated before an issue.
        alpha: family-wise significance of the statistical tests.
        min_share_change: smallest change of a category share that counts as imbalance.
        random_state: seed of the Monte Carlo balance test.
    """

    input_kinds = ("table", "categorical", "image")
    allow_nan = True
    reports_schema = True

    def __init__(self, *, max_categories: int = 20, range_margin: float = 0.05,
                 range_tolerance: float = 0.01, alpha: float = 0.05,
                 min_share_change: float = 0.1, random_state: int = 0):
        self.max_categories = max_categories
        self.range_margin = range_margin
        self.range_tolerance = range_tolerance
        self.alpha = alpha
        self.min_share_change = min_share_change
        self.random_state = random_state

    # ------------------------------------------------------------------ input
    def _prepare(self, X, *, fitting: bool) -> PreparedData:
        if X is None:
            raise DetectorInputError("X is None; pass an array or a DataFrame")
        if hasattr(X, "columns") or np.ndim(X) <= 2:
            df = to_frame(X)
            if len(df) == 0:
                raise DetectorInputError("empty batch: X has 0 rows; pass at least one sample")
            if not fitting and not hasattr(X, "index"):
                df = self._positional_names(df)
            return PreparedData(df, "table", list(df.columns))
        arr = np.asarray(X)
        if arr.shape[0] == 0:
            raise DetectorInputError("empty batch: X has no samples; pass at least one sample")
        return PreparedData(arr, "image", None)

    def _positional_names(self, df):
        """An array has no names: its columns are the reference's, in order, when the
        width matches (otherwise the schema check reports the difference)."""
        if self.spec_["kind"] == "table":
            names = [c["name"] for c in self.spec_["columns"]]
            if df.shape[1] == len(names):
                df.columns = names
        return df

    # ------------------------------------------------------------------ fit
    def _fit(self, data: PreparedData) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha={self.alpha} must be in (0, 1)")
        self.input_shape_ = []
        if data.kind == "image":
            self.spec_ = self._image_spec(data.values)
            self.min_batch_size_ = 1
            return
        df = data.values
        self.spec_ = {"kind": "table",
                      "columns": [self._column_spec(name, df[name]) for name in df.columns]}
        self.min_batch_size_ = self._min_batch_size()

    @staticmethod
    def _image_spec(arr: np.ndarray) -> dict[str, Any]:
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        return {
            "kind": "image",
            "sample_shape": list(arr.shape[1:]),
            "dtype": str(arr.dtype),
            "min": float(finite.min()) if finite.size else 0.0,
            "max": float(finite.max()) if finite.size else 0.0,
            "nan_share": float(np.isnan(arr).mean()) if arr.dtype.kind == "f" else 0.0,
        }

    def _is_category(self, col, values) -> bool:
        if not _is_numeric(col):
            return True
        v = np.asarray(values, dtype=float)
        if not v.size or not np.all(v == np.round(v)):
            return False
        n_values = int(values.nunique())
        return n_values <= self.max_categories and v.size >= 5 * n_values

    def _column_spec(self, name: str, col) -> dict[str, Any]:
        values = col.dropna()
        n_missing = int(col.isna().sum())
        spec: dict[str, Any] = {"name": name, "dtype": str(col.dtype),
                                "nan_share": n_missing / len(col), "n_rows": int(len(col)),
                                "n_missing": n_missing}
        if self._is_category(col, values):
            counts = values.astype(str).value_counts()
            spec["kind"] = "categorical"
            spec["counts"] = {str(k): int(v) for k, v in counts.items()}
            spec["shares"] = {str(k): int(v) / max(1, len(values)) for k, v in counts.items()}
        else:
            v = np.asarray(values, dtype=float)
            v = v[np.isfinite(v)]
            spec.update(kind="numeric", min=float(v.min()) if v.size else 0.0,
                        max=float(v.max()) if v.size else 0.0, n_finite=int(v.size))
        return spec

    def _n_tests(self) -> int:
        """Number of statistical tests on a batch with every reference column."""
        n = 0
        for c in self.spec_["columns"]:
            n += 1 if c["kind"] == "numeric" else int(len(c["counts"]) > 1)
            n += int(c["n_missing"] > 0)
        return max(1, n)

    def _alpha_per_test(self) -> float:
        return self.alpha / self._n_tests()

    def _min_batch_size(self) -> int:
        """Smallest batch on which every statistical test can fire (see the class doc)."""
        a = self._alpha_per_test()
        sizes = [1]
        for c in self.spec_["columns"]:
            if c["kind"] == "numeric":
                sizes.append(_smallest_batch(2.0, max(c["n_finite"] - 1, 1), a))
            elif len(c["counts"]) > 1:
                rare, total = min(c["counts"].values()), sum(c["counts"].values())
                sizes.append(_smallest_batch(rare + 0.5, total - rare + 0.5, a))
            if c["n_missing"] > 0:
                sizes.append(_smallest_batch(c["n_missing"] + 0.5,
                                             c["n_rows"] - c["n_missing"] + 0.5, a))
        return max(s for s in sizes if s is not None)

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
            table = data.values
            return [self._issue("schema", f"expected images {spec['sample_shape']}, got a "
                                          f"table with {table.shape[1]} columns")], np.ones(len(table))
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

    def _schema_issues(self, df) -> list[dict]:
        expected = [c["name"] for c in self.spec_["columns"]]
        missing = [c for c in expected if c not in df.columns]
        extra = [c for c in df.columns if c not in set(expected)]
        issues = []
        if missing:
            issues.append(self._issue(
                "schema", f"missing columns {missing}: the reference had them; add them or "
                          "refit on a reference without them", missing=missing))
        if extra:
            issues.append(self._issue(
                "schema", f"unexpected columns {extra}: the reference did not have them; drop "
                          "them or refit on a reference with them", extra=extra))
        return issues

    def _check_table(self, data: PreparedData):
        if data.kind != "table":
            n = len(data.values)
            return [self._issue("schema", f"expected a table, got images of shape "
                                          f"{list(data.values.shape[1:])}")], np.ones(n)
        df = data.values
        issues = self._schema_issues(df)
        present = [c for c in self.spec_["columns"] if c["name"] in df.columns]
        if not present:
            return issues, np.ones(len(df))
        a = self._alpha_per_test()
        per_row = np.zeros(len(df))
        for c in present:
            found, rows = self._check_column(c, df[c["name"]], a)
            issues.extend(found)
            per_row += rows
        return issues, per_row

    def _check_column(self, c: dict, col, a: float) -> tuple[list[dict], np.ndarray]:
        nan = col.isna().to_numpy()
        issues, rows = self._check_missing(c, nan, a)
        if c["kind"] == "numeric":
            found, more = self._check_numeric(c, col, a)
        else:
            found, more = self._check_categories(c, col[~nan], nan, a)
        return issues + found, rows + more

    def _check_missing(self, c: dict, nan: np.ndarray, a: float):
        k, m = int(nan.sum()), len(nan)
        if k == 0:
            return [], np.zeros(m)
        k_ref, n_ref = c["n_missing"], c["n_rows"]
        if k_ref == 0:
            message = f"{k}/{m} missing values; the column had none in the reference"
            return [self._issue("missing", message, c["name"], n_rows=k)], nan.astype(float)
        p = float(stats.betabinom.sf(k - 1, m, k_ref + 0.5, n_ref - k_ref + 0.5))
        if p >= a:
            return [], np.zeros(m)
        message = f"{k}/{m} missing values (reference share {k_ref / n_ref:.3g}, p={p:.2g})"
        issue = self._issue("missing", message, c["name"], n_rows=k, p_value=p)
        return [issue], nan.astype(float)

    def _check_numeric(self, c: dict, col, a: float):
        name = c["name"]
        if not _is_numeric(col):
            return [self._issue("dtype", f"dtype {col.dtype} is not numeric (reference "
                                         f"{c['dtype']})", name)], np.ones(len(col))
        v = col.to_numpy(dtype=float, na_value=np.nan)
        issues = []
        inf = np.isinf(v)
        if inf.any():
            issues.append(self._issue("missing", f"{int(inf.sum())} infinite values", name,
                                      n_rows=int(inf.sum())))
        span = max(c["max"] - c["min"], 1e-12)
        lo, hi = c["min"] - self.range_margin * span, c["max"] + self.range_margin * span
        with np.errstate(invalid="ignore"):
            out = np.isfinite(v) & ((v < lo) | (v > hi))
        issue = self._range_issue(c, v, out, a)
        if issue is not None:
            issues.append(issue)
        return issues, inf.astype(float) + out

    def _range_issue(self, c: dict, v: np.ndarray, out: np.ndarray, a: float) -> dict | None:
        k, m = int(out.sum()), int(np.isfinite(v).sum())
        if k == 0 or k / m <= self.range_tolerance:
            return None
        p = float(stats.betabinom.sf(k - 1, m, 2.0, max(c["n_finite"] - 1, 1)))
        if p >= a:
            return None
        return self._issue(
            "range", f"{k} values outside the reference range [{c['min']:g}, {c['max']:g}] "
                     f"(observed [{np.nanmin(v):g}, {np.nanmax(v):g}], p={p:.2g})", c["name"],
            n_rows=k, p_value=p)

    def _check_categories(self, c: dict, values, nan: np.ndarray, a: float):
        labels = values.astype(str)
        known = c["counts"]
        unseen_mask = ~labels.isin(list(known)).to_numpy()
        issues = []
        rows = np.zeros(len(nan))
        if unseen_mask.any():
            unseen = sorted(set(labels[unseen_mask]))
            issues.append(self._issue(
                "unseen_categories", f"categories never seen in the reference: {unseen}",
                c["name"], categories=unseen))
            rows[np.flatnonzero(~nan)[unseen_mask]] = 1.0
        seen = labels[~unseen_mask]
        if len(seen) and len(known) > 1:
            issue = self._balance_issue(c, seen, a)
            if issue is not None:
                issues.append(issue)
        return issues, rows

    def _balance_issue(self, c: dict, seen, a: float) -> dict | None:
        cats = sorted(c["counts"])
        counts = seen.value_counts()
        observed = np.array([counts.get(k, 0) for k in cats], dtype=float)
        reference = np.array([c["counts"][k] for k in cats], dtype=float)
        n_sims = int(np.clip(np.ceil(20 / a), 2000, 20000))
        p = balance_p_value(reference, observed, n_simulations=n_sims, seed=self.random_state)
        before, after = reference / reference.sum(), observed / observed.sum()
        change = float(np.abs(after - before).max())
        if p >= a or change < self.min_share_change:
            return None
        return self._issue(
            "balance", "category shares changed: " + ", ".join(
                f"{k} {b:.0%} -> {x:.0%}" for k, b, x in zip(cats, before, after, strict=True)),
            c["name"], p_value=p, max_share_change=change,
            share_before=dict(zip(cats, before.tolist(), strict=True)),
            share_after=dict(zip(cats, after.tolist(), strict=True)))

    # ------------------------------------------------------------------ decision
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
                **self._batch_size_report(len(per_row)),
            },
        )

    def _batch_size_report(self, n: int) -> dict[str, Any]:
        if self.spec_["kind"] != "table":
            return {}
        needed = self.min_batch_size_
        report: dict[str, Any] = {"alpha_per_test": self._alpha_per_test(),
                                  "min_batch_size": needed,
                                  "below_min_batch_size": n < needed}
        if n < needed:
            report["note"] = (
                f"batch of {n} rows is below min_batch_size {needed}: some statistical "
                "checks (range, missing rate, category balance) cannot reach significance "
                "at this size; deterministic findings (schema, dtype, unseen categories, "
                "inf, missing values in a column never missing) are still reported"
            )
        return report

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["spec_"] = self.spec_
        meta["min_batch_size_"] = self.min_batch_size_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.spec_ = meta["spec_"]
        if self.spec_["kind"] == "table":
            for c in self.spec_["columns"]:
                self._upgrade_column_spec(c)
        self.min_batch_size_ = meta.get("min_batch_size_") or (
            self._min_batch_size() if self.spec_["kind"] == "table" else 1)

    def _upgrade_column_spec(self, c: dict) -> None:
        """Fill the counts that files saved before they were stored lack (from shares)."""
        c.setdefault("n_rows", self.n_reference_)
        c.setdefault("n_missing", int(round(c["nan_share"] * c["n_rows"])))
        n_values = c["n_rows"] - c["n_missing"]
        if c["kind"] == "numeric":
            c.setdefault("n_finite", n_values)
        else:
            c.setdefault("counts", {k: max(1, int(round(s * n_values)))
                                    for k, s in c["shares"].items()})
