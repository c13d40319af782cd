"""The one result schema every detector returns (CLI, reports, agents and the API read it)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CheckResult", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _fmt(value: float | None) -> str | None:
    return None if value is None else f"{value:.4g}"


class CheckResult(BaseModel):
    """What a detector decided about one batch.

    Fields:
        detector: registry name of the detector (``"ae"``, ``"ks"``, a plugin name ...).
        is_drift: the batch decision.
        score: the batch statistic (KS distance, MMD², PSI, share of violations ...).
        threshold: what the decision compares against. When ``p_value`` is set the rule is
            ``p_value < threshold`` (``threshold`` is the significance level); otherwise
            ``score > threshold``. ``metadata["decision_rule"]`` spells the rule out.
        p_value: the batch p-value, when the test has one.
        n_samples: batch size.
        is_outlier: per-sample flags (instance-level detectors), else ``None``.
        instance_scores: per-sample scores (higher is more anomalous), else ``None``.
        instance_threshold: the per-sample threshold behind ``is_outlier``, if any.
        metadata: detector-specific details (per-feature p-values, components, issues ...).

    Example:
        >>> r = CheckResult(detector="ks", is_drift=False, score=0.1, threshold=0.05,
        ...                 p_value=0.4, n_samples=10)
        >>> CheckResult.model_validate_json(r.to_json()).p_value
        0.4
    """

    model_config = ConfigDict(extra="forbid")

    detector: str
    is_drift: bool
    score: float | None
    threshold: float | None = None
    p_value: float | None = None
    n_samples: int = 0
    is_outlier: list[bool] | None = None
    instance_scores: list[float | None] | None = None
    instance_threshold: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("score", "threshold", "p_value", "instance_threshold", mode="before")
    @classmethod
    def _finite_float(cls, v):
        if v is None:
            return None
        v = float(v)
        return v if math.isfinite(v) else None

    @field_validator("is_outlier", "instance_scores", "metadata", mode="before")
    @classmethod
    def _plain(cls, v):
        return None if v is None else to_jsonable(v)

    @property
    def n_outliers(self) -> int | None:
        return None if self.is_outlier is None else int(sum(self.is_outlier))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict of the result."""
        return self.model_dump(mode="json")

    def to_json(self, **kwargs) -> str:
        kwargs.setdefault("indent", None)
        return json.dumps(self.to_dict(), **kwargs)

    def _repr_html_(self) -> str:
        """Jupyter: the verdict, the key numbers and a histogram of the per-sample scores."""
        from scanflow.html import histogram_svg, render  # lazy: Jinja2, only in notebooks

        rows = [("samples", self.n_samples), ("score", _fmt(self.score)),
                ("threshold", _fmt(self.threshold)), ("p-value", _fmt(self.p_value)),
                ("rule", self.metadata.get("decision_rule", ""))]
        if self.is_outlier is not None:
            rows.insert(1, ("flagged samples", f"{self.n_outliers} / {len(self.is_outlier)}"))
        plot = histogram_svg(self.instance_scores or [], marker=self.instance_threshold)
        return render("check_result.html.j2", r=self,
                      rows=[(k, v) for k, v in rows if v not in (None, "")], plot=plot)

    def summary(self) -> str:
        """One line for logs: ``ae: DRIFT score=0.41 p=1e-05 (outliers 37/100)``."""
        verdict = "DRIFT" if self.is_drift else "ok"
        parts = [f"{self.detector}: {verdict}"]
        if self.score is not None:
            parts.append(f"score={self.score:.4g}")
        if self.p_value is not None:
            parts.append(f"p={self.p_value:.3g}")
        if self.is_outlier is not None:
            parts.append(f"(outliers {self.n_outliers}/{len(self.is_outlier)})")
        return " ".join(parts)
