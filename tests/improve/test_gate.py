"""The evaluation gate decides on held-out slices and promotes through the MLflow registry."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.improve.gate import EvaluationGate, GateError, evaluate, register_candidate

CHAMPION = {"drifted_accuracy": 0.70, "clean_accuracy": 0.99}


def test_gate_promotes_a_candidate_that_gains_on_drift_and_keeps_clean_accuracy():
    d = EvaluationGate(min_gain=0.05, max_clean_drop=0.01).decide(
        CHAMPION, {"drifted_accuracy": 0.80, "clean_accuracy": 0.985}
    )
    assert d.promote and d.reason.endswith("-> promote")
    assert d.metrics["drifted_gain"] == pytest.approx(0.10)
    assert d.metrics["champion_clean_accuracy"] == 0.99


def test_gate_keeps_the_champion_when_the_gain_is_below_the_margin():
    d = EvaluationGate(min_gain=0.05).decide(
        CHAMPION, {"drifted_accuracy": 0.74, "clean_accuracy": 0.99}
    )
    assert not d.promote and "required gain 0.050" in d.reason


def test_gate_keeps_the_champion_when_clean_accuracy_drops_too_much():
    d = EvaluationGate(max_clean_drop=0.01).decide(
        CHAMPION, {"drifted_accuracy": 0.95, "clean_accuracy": 0.96}
    )
    assert not d.promote and "allowed drop 0.010" in d.reason


def test_one_lost_sample_of_a_small_clean_slice_is_noise_two_are_a_loss():
    # the tabular demo's gate: 71 of 75 clean held-out samples right for the champion
    champion = {"drifted_accuracy": 0.538, "clean_accuracy": 71 / 75, "clean_n": 75.0}
    one = EvaluationGate().decide(champion, {"drifted_accuracy": 0.897, "clean_accuracy": 70 / 75})
    assert one.promote and "1 sample(s) of 75: noise" in one.reason
    two = EvaluationGate().decide(champion, {"drifted_accuracy": 0.897, "clean_accuracy": 69 / 75})
    assert not two.promote and "noise" not in two.reason
    # within one standard error of the champion's clean accuracy: 2 of 150 at 95 % is noise, 4 is not
    wide = {"drifted_accuracy": 0.538, "clean_accuracy": 142 / 150, "clean_n": 150.0}
    assert EvaluationGate().decide(wide, {"drifted_accuracy": 0.897, "clean_accuracy": 140 / 150}).promote
    assert not EvaluationGate().decide(wide, {"drifted_accuracy": 0.897, "clean_accuracy": 138 / 150}).promote


def _with_guard(metrics, accuracy, n=22):
    return {**metrics, "guard:episode-1_accuracy": accuracy, "guard:episode-1_n": float(n)}


def test_one_lost_sample_of_a_small_guard_slice_is_noise_not_forgetting():
    champion = _with_guard(CHAMPION, 21 / 22)
    candidate = _with_guard({"drifted_accuracy": 0.9, "clean_accuracy": 0.99}, 20 / 22)
    d = EvaluationGate().decide(champion, candidate)
    assert d.promote and "1 sample(s) of 22: noise" in d.reason


def test_a_guard_slice_that_loses_several_samples_keeps_the_champion():
    champion = _with_guard(CHAMPION, 21 / 22)
    candidate = _with_guard({"drifted_accuracy": 0.9, "clean_accuracy": 0.99}, 18 / 22)
    d = EvaluationGate().decide(champion, candidate)
    assert not d.promote and "episode-1 accuracy 0.818" in d.reason and "noise" not in d.reason
    large = EvaluationGate().decide(_with_guard(CHAMPION, 0.95, n=1000),
                                    _with_guard({"drifted_accuracy": 0.9, "clean_accuracy": 0.99},
                                                0.91, n=1000))
    assert not large.promote  # 40 samples of 1,000: forgetting
    strict = EvaluationGate(min_guard_loss=0).decide(champion, _with_guard(
        {"drifted_accuracy": 0.9, "clean_accuracy": 0.99}, 20 / 22))
    assert not strict.promote


def test_gate_names_the_missing_metric():
    with pytest.raises(GateError, match="clean_accuracy"):
        EvaluationGate().decide(CHAMPION, {"drifted_accuracy": 0.9})


def test_gate_evaluate_requires_both_slices(base_cnn, digits):
    _, _, Xt, yt = digits
    with pytest.raises(GateError, match="drifted"):
        EvaluationGate().evaluate(base_cnn, {"clean": (Xt[:10], yt[:10])})


def test_evaluate_reports_accuracy_per_slice_and_per_group(base_cnn, digits):
    _, _, Xt, yt = digits
    groups = np.array(["a", "b"] * 50)
    m = evaluate(base_cnn, {"clean": (Xt[:100], yt[:100]), "mix": (Xt[:100], yt[:100], groups)})
    assert m["clean_n"] == 100 and m["clean_accuracy"] == m["mix_accuracy"]
    hits = (
        base_cnn(
            __import__("scanflow.improve.classifier", fromlist=["as_images"]).as_images(Xt[:100])
        )
        .argmax(1)
        .numpy()
        == yt[:100]
    )
    assert m["mix:a_accuracy"] == pytest.approx(hits[groups == "a"].mean())


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    from scanflow.track import get_client

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = get_client(uri)
    exp = client.create_experiment("gate-test", artifact_location=(tmp_path / "art").as_uri())
    return uri, client, exp


def test_promotion_moves_the_champion_alias_and_rollback_restores_it(registry, base_cnn):
    from scanflow.track import get_alias_version, promote, rollback

    uri, client, exp = registry
    rid = client.create_run(exp).info.run_id
    v1 = register_candidate(base_cnn, "digits", run_id=rid)
    promote("digits", v1, client=client)
    v2 = register_candidate(base_cnn, "digits", run_id=rid)
    gate = EvaluationGate()
    decision = gate.decide(CHAMPION, {"drifted_accuracy": 0.9, "clean_accuracy": 0.99})
    assert gate.promote(decision, "digits", v2, client=client) == v1
    assert get_alias_version("digits", "champion", client=client) == v2
    assert get_alias_version("digits", "challenger", client=client) == v2
    assert rollback("digits", client=client) == v1
    assert get_alias_version("digits", "champion", client=client) == v1


def test_rejected_candidate_does_not_move_the_champion(registry, base_cnn):
    from scanflow.track import get_alias_version, promote

    _, client, exp = registry
    rid = client.create_run(exp).info.run_id
    promote("digits", register_candidate(base_cnn, "digits", run_id=rid), client=client)
    v2 = register_candidate(base_cnn, "digits", run_id=rid)
    gate = EvaluationGate()
    decision = gate.decide(CHAMPION, {"drifted_accuracy": 0.70, "clean_accuracy": 0.99})
    assert gate.promote(decision, "digits", v2, client=client) is None
    assert get_alias_version("digits", "champion", client=client) == 1
    tags = client.get_model_version("digits", str(v2)).tags
    assert tags["scanflow.gate.promote"] == "False" and "-> keep" in tags["scanflow.gate.reason"]
