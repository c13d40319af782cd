"""The evaluation gate: a candidate replaces the champion only if it is better where it matters.

A candidate is evaluated on held-out *slices* (named ``(X, y)`` pairs; at least the drifted
samples and clean data) and compared with the champion on the same slices. It passes when

* its accuracy on the drifted slice beats the champion's by at least ``min_gain``, and
* its accuracy on the clean slice is at most ``max_clean_drop`` below the champion's.

Metrics are flat ``{name: float}`` dicts (``<slice>_accuracy``, ``<slice>_n``), the shape
MLflow logs and the agents' messages carry. Promotion goes through the tracker's registry
(:func:`scanflow.track.promote` moves the alias ``champion`` and remembers the previous version
for ``scanflow models rollback``).

Example:
    >>> gate = EvaluationGate(min_gain=0.02, max_clean_drop=0.01)
    >>> d = gate.decide({"drifted_accuracy": 0.70, "clean_accuracy": 0.99},
    ...                 {"drifted_accuracy": 0.85, "clean_accuracy": 0.985})
    >>> d.promote
    True
    >>> gate.decide({"drifted_accuracy": 0.70, "clean_accuracy": 0.99},
    ...             {"drifted_accuracy": 0.85, "clean_accuracy": 0.95}).reason.split(";")[1].strip()
    'clean accuracy 0.950 vs champion 0.990 (-0.040 > allowed drop 0.010) -> keep'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from scanflow.errors import ScanflowError
from scanflow.models import as_model, log_model
from scanflow.params import ParamsMixin
from scanflow.track import promote as track_promote
from scanflow.track import set_alias
from scanflow.track.registry import _client

__all__ = ["EvaluationGate", "GateDecision", "GateError", "evaluate", "register_candidate"]


class GateError(ScanflowError, ValueError):
    """Bad gate settings or metrics that lack what the gate compares."""


def evaluate(model, slices: dict[str, tuple]) -> dict[str, float]:
    """Accuracy of ``model`` on each named slice: ``{"<name>_accuracy": ..., "<name>_n": ...}``.

    A slice is ``(X, y)``, or ``(X, y, groups)`` to also get the accuracy of each group
    (``"<name>:<group>_accuracy"``), e.g. per corruption of a mixed stream, from one pass.

    ``model`` is anything :func:`scanflow.models.as_model` takes (a scikit-learn pipeline, a
    torch module, an adapter).

    Example:
        >>> import numpy as np
        >>> from sklearn.dummy import DummyClassifier
        >>> X, y = np.zeros((4, 3)), np.array([0, 1, 1, 1])
        >>> model = DummyClassifier().fit(X, y)
        >>> evaluate(model, {"clean": (X, y)})
        {'clean_accuracy': 0.75, 'clean_n': 4.0}
        >>> sorted(evaluate(model, {"d": (X, y, ["fog", "fog", "a", "a"])}))
        ['d:a_accuracy', 'd:fog_accuracy', 'd_accuracy', 'd_n']
    """
    if not isinstance(slices, dict) or not slices:
        raise GateError("slices must be a non-empty dict {name: (X, y)}")
    out: dict[str, float] = {}
    for name, pair in slices.items():
        if not isinstance(pair, (tuple, list)) or len(pair) not in (2, 3):
            raise GateError(f"slice {name!r} must be a pair (X, y) or a triple (X, y, groups)")
        X, y = pair[0], np.asarray(pair[1])
        if len(X) != len(y):
            raise GateError(f"slice {name!r} has {len(X)} samples but {len(y)} labels")
        hit = np.asarray(as_model(model).predict(X)) == y if len(y) else np.zeros(0, bool)
        out[f"{name}_accuracy"] = float(hit.mean()) if len(y) else float("nan")
        out[f"{name}_n"] = float(len(y))
        if len(pair) == 3:
            groups = np.asarray(pair[2]).astype(str)
            if len(groups) != len(y):
                raise GateError(f"slice {name!r} has {len(groups)} groups for {len(y)} labels")
            for g in np.unique(groups):
                out[f"{name}:{g}_accuracy"] = float(hit[groups == g].mean())
    return out


@dataclass
class GateDecision:
    """What the gate decided and why; ``metrics`` holds both models' numbers and the deltas."""

    promote: bool
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _drop_verdict(drop: float, allowed: float, n: float | None, min_loss: int,
                  accuracy: float | None = None) -> tuple[bool, str]:
    """Is an accuracy ``drop`` on a slice of ``n`` samples acceptable, and the words for it:
    within ``allowed``, or beyond it by fewer samples than sampling noise on that slice (fewer
    than ``min_loss``, or than one standard error of the champion's ``accuracy`` on ``n``)."""
    if drop <= allowed + 1e-12:
        return True, f"within allowed drop {allowed:.3f}"
    lost = round(drop * n) if n is not None and np.isfinite(n) else None
    if lost is not None:
        p = accuracy if accuracy is not None and np.isfinite(accuracy) else 0.0
        if lost < max(min_loss, float(np.sqrt(n * p * (1 - p)))):
            return True, f"> allowed drop {allowed:.3f}, but {lost} sample(s) of {n:.0f}: noise"
    return False, f"> allowed drop {allowed:.3f}"


class EvaluationGate(ParamsMixin):
    """Promote a candidate only if it gains on drifted data and keeps clean accuracy.

    Args:
        min_gain: required accuracy gain on the drifted slice (absolute, e.g. 0.02 = 2 points).
        max_clean_drop: largest tolerated accuracy loss on the clean slice.
        max_guard_drop: largest tolerated loss on each *guard* slice (slices named
            ``guard:<name>``: e.g. the shifts earlier episodes adapted the model to, which a
            new candidate must not forget).
        min_guard_loss: a guard slice's drop counts only when the candidate also gets at least
            this many more of its samples wrong than the champion: on the few held-out labels
            of an earlier episode one sample is several points, and losing one is noise, not
            forgetting (an exact sign test cannot call a loss of 1 sample significant).
        min_clean_loss: the same for the clean slice: on 75 held-out clean samples one sample
            is 1.3 points, more than ``max_clean_drop``; a drop counts only when the candidate
            gets at least this many more clean samples wrong than the champion, and more than
            one standard error of the champion's clean accuracy (``sqrt(n p (1 - p))`` samples:
            2.7 of 150 at 95 %).
        drifted_slice / clean_slice: slice names the gate compares.
    """

    def __init__(
        self,
        *,
        min_gain: float = 0.02,
        max_clean_drop: float = 0.01,
        max_guard_drop: float = 0.03,
        min_guard_loss: int = 2,
        min_clean_loss: int = 2,
        drifted_slice: str = "drifted",
        clean_slice: str = "clean",
    ):
        self.min_gain = min_gain
        self.max_clean_drop = max_clean_drop
        self.max_guard_drop = max_guard_drop
        self.min_guard_loss = min_guard_loss
        self.min_clean_loss = min_clean_loss
        self.drifted_slice = drifted_slice
        self.clean_slice = clean_slice

    def evaluate(self, model, slices: dict[str, tuple]) -> dict[str, float]:
        """:func:`evaluate` (the slices must include the drifted and clean slices)."""
        missing = [s for s in (self.drifted_slice, self.clean_slice) if s not in slices]
        if missing:
            raise GateError(
                f"evaluation slices lack {missing}; pass slices={{'{self.drifted_slice}': "
                f"(X, y), '{self.clean_slice}': (X, y)}} (held-out data, never the training pool)"
            )
        return evaluate(model, slices)

    def _get(self, metrics: dict[str, float], which: str, slice_name: str) -> float:
        key = f"{slice_name}_accuracy"
        if key not in metrics:
            raise GateError(
                f"{which} metrics lack {key!r} (have {sorted(metrics)}); evaluate both models "
                f"on the same slices with EvaluationGate.evaluate"
            )
        return float(metrics[key])

    def decide(
        self, champion_metrics: dict[str, float], candidate_metrics: dict[str, float]
    ) -> GateDecision:
        """Compare the candidate with the champion on the drifted and the clean slice."""
        if min(self.min_gain, self.max_clean_drop, self.min_guard_loss, self.min_clean_loss) < 0:
            raise GateError("min_gain, max_clean_drop, min_guard_loss and min_clean_loss must be >= 0")
        champion_drifted = self._get(champion_metrics, "champion", self.drifted_slice)
        candidate_drifted = self._get(candidate_metrics, "candidate", self.drifted_slice)
        champion_clean = self._get(champion_metrics, "champion", self.clean_slice)
        candidate_clean = self._get(candidate_metrics, "candidate", self.clean_slice)
        gain, drop = candidate_drifted - champion_drifted, champion_clean - candidate_clean
        ok_gain = gain >= self.min_gain - 1e-12
        dname, cname = self.drifted_slice, self.clean_slice
        ok_clean, verdict = _drop_verdict(drop, self.max_clean_drop, champion_metrics.get(f"{cname}_n"),
                                          self.min_clean_loss, champion_clean)
        parts = [
            f"{dname} accuracy {candidate_drifted:.3f} vs champion {champion_drifted:.3f} ({gain:+.3f} "
            f"{'>=' if ok_gain else '<'} required gain {self.min_gain:.3f})",
            f"{cname} accuracy {candidate_clean:.3f} vs champion {champion_clean:.3f} ({-drop:+.3f} {verdict})",
        ]
        guards = self._guards(champion_metrics, candidate_metrics)
        parts += [text for _, text in guards]
        promote = bool(ok_gain and ok_clean and all(ok for ok, _ in guards))
        metrics = {f"champion_{k}": float(v) for k, v in champion_metrics.items()}
        metrics.update({f"candidate_{k}": float(v) for k, v in candidate_metrics.items()})
        metrics.update({f"{dname}_gain": gain, f"{cname}_drop": drop})
        return GateDecision(
            promote, "; ".join(parts) + (" -> promote" if promote else " -> keep"), metrics
        )

    def _guards(self, champion: dict[str, float], candidate: dict[str, float]) -> list[tuple[bool, str]]:
        """``(ok, reason)`` for every guard slice both models were evaluated on."""
        out = []
        for key in sorted(k for k in champion if k.startswith("guard:") and k.endswith("_accuracy")):
            if key not in candidate or not np.isfinite(champion[key]) or not np.isfinite(candidate[key]):
                continue
            drop = champion[key] - candidate[key]
            name = key[len("guard:"):-len("_accuracy")]
            ok, verdict = _drop_verdict(drop, self.max_guard_drop, champion.get(f"guard:{name}_n"),
                                        self.min_guard_loss)
            out.append((ok, f"{name} accuracy {candidate[key]:.3f} vs champion {champion[key]:.3f} "
                            f"({-drop:+.3f} {verdict})"))
        return out

    def promote(self, decision: GateDecision, name: str, version: int | str, client=None):
        """If ``decision.promote``, move ``champion`` of registered model ``name`` to ``version``
        (through :func:`scanflow.track.promote`); return the replaced version, else ``None``.

        The candidate gets the alias ``challenger`` either way, and tags with the decision.
        """
        c = _client(client)
        c.set_model_version_tag(name, str(version), "scanflow.gate.promote", str(decision.promote))
        c.set_model_version_tag(name, str(version), "scanflow.gate.reason", decision.reason[:4900])
        set_alias(name, "challenger", version, client=c)
        if not decision.promote:
            return None
        return track_promote(name, version, client=c)


def register_candidate(
    model,
    name: str,
    *,
    run_id: str | None = None,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
) -> int:
    """Log ``model`` to the run as an MLflow model (its flavor + signature) and register it
    under ``name``; returns the new registry version. ``model``: anything
    :func:`scanflow.models.as_model` takes (a torch module needs its ``init_kwargs``)."""
    info = log_model(model, "model", run_id=run_id, registered_model_name=name,
                     tags=tags, description=description)
    return int(info.version)
