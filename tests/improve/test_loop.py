"""One round of the loop: select, label, improve, evaluate, decide; a clean stream promotes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.improve.gate import EvaluationGate
from scanflow.improve.labelers import OracleLabeler
from scanflow.improve.loop import run_round
from scanflow.improve.selection import get_selector
from scanflow.improve.strategies import RetrainStrategy


@pytest.fixture(scope="module")
def drifted(digits, corrupt_mix):
    """A drifted pool (test digits 0-299) and a disjoint held-out drifted slice (300-599)."""
    _, _, Xt, yt = digits
    names = ["fog", "brightness", "stripe"]
    Xp, _ = corrupt_mix(Xt[:300], names, seed=1)
    Xe, _ = corrupt_mix(Xt[300:600], names, seed=2)
    return Xp, yt[:300], Xe, yt[300:600], (Xt[600:1000], yt[600:1000])


def test_a_round_on_drifted_data_promotes_a_better_candidate(
    base_cnn, ae_detector, digits, drifted
):
    X, y, _, _ = digits
    Xp, yp, Xe, ye, clean = drifted
    res = run_round(
        base_cnn,
        ae_detector,
        Xp,
        selector=get_selector("kcenter"),
        labeler=OracleLabeler(yp),
        strategy=RetrainStrategy(epochs=1, replay=1000),
        gate=EvaluationGate(max_clean_drop=0.03),
        X_train=X,
        y_train=y,
        eval_slices={"drifted": (Xe, ye), "clean": clean},
        budget=40,
        seed=0,
    )
    assert res.labels_used == 40 and res.trained_on == 40 and res.held_out == 0
    assert (
        res.candidate_metrics["drifted_accuracy"] > res.champion_metrics["drifted_accuracy"] + 0.1
    )
    assert res.decision.promote, res.decision.reason


def test_a_clean_stream_leads_to_no_promotion(base_cnn, ae_detector, digits):
    """Issue 4: clean data in, the champion stays (the paper's selector, the default gate)."""
    X, y, Xt, yt = digits
    pool, held = (Xt[:500], yt[:500]), (Xt[500:1000], yt[500:1000])
    res = run_round(
        base_cnn,
        ae_detector,
        pool[0],
        selector=get_selector("reconstruction"),
        labeler=OracleLabeler(pool[1]),
        strategy=RetrainStrategy(epochs=1),
        gate=EvaluationGate(),
        X_train=X,
        y_train=y,
        eval_slices={"drifted": held, "clean": held},
        budget=100,
        seed=0,
    )
    assert res.drift["is_drift"] is False
    assert res.labels_used == 0 and res.candidate is None
    assert not res.decision.promote and "no drift" in res.decision.reason


def test_nothing_selected_means_no_candidate_and_no_promotion(base_cnn, digits):
    X, y, Xt, yt = digits
    res = run_round(
        base_cnn,
        None,
        Xt[:50],
        selector=get_selector("random"),
        labeler=OracleLabeler(yt[:50]),
        strategy=RetrainStrategy(),
        gate=EvaluationGate(),
        X_train=X,
        y_train=y,
        budget=0,
        eval_slices={"drifted": (Xt[50:80], yt[50:80]), "clean": (Xt[80:99], yt[80:99])},
    )
    assert res.candidate is None and not res.decision.promote
    assert "no labeled sample" in res.decision.reason


def test_skipped_samples_are_not_trained_on(base_cnn, digits, drifted):
    X, y, _, _ = digits
    Xp, yp, Xe, ye, clean = drifted

    class SkipsHalf:
        def label(self, indices):
            out = yp[np.asarray(indices)].copy()
            out[::2] = -1
            return out

    res = run_round(
        base_cnn,
        None,
        Xp,
        selector=get_selector("random"),
        labeler=SkipsHalf(),
        strategy=RetrainStrategy(epochs=1, replay=200),
        gate=EvaluationGate(),
        X_train=X,
        y_train=y,
        eval_slices={"drifted": (Xe, ye), "clean": clean},
        budget=20,
        seed=0,
    )
    assert res.labels_used == 10 and res.trained_on == 10


def test_without_a_drifted_slice_part_of_the_labels_is_held_out(base_cnn, digits, drifted):
    X, y, _, _ = digits
    Xp, yp, _, _, clean = drifted
    res = run_round(
        base_cnn,
        None,
        Xp,
        selector=get_selector("random"),
        labeler=OracleLabeler(yp),
        strategy=RetrainStrategy(epochs=1, replay=200),
        gate=EvaluationGate(),
        X_train=X,
        y_train=y,
        eval_slices={"clean": clean},
        budget=30,
        seed=0,
        holdout=0.3,
    )
    assert res.held_out == 9 and res.trained_on == 21
    assert res.champion_metrics["drifted_n"] == 9


def test_round_needs_a_clean_slice(base_cnn, digits):
    X, y, Xt, yt = digits
    with pytest.raises(ValueError, match="clean"):
        run_round(
            base_cnn,
            None,
            Xt[:10],
            selector=get_selector("random"),
            labeler=OracleLabeler(yt[:10]),
            strategy=RetrainStrategy(),
            gate=EvaluationGate(),
            X_train=X,
            y_train=y,
            budget=5,
            eval_slices={},
        )
