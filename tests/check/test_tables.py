"""Table data done right: small clean batches, shifts at that size, per-feature results.

The wine data set (178 rows, 13 numeric columns) ships with scikit-learn: a reference of 124
rows and a clean batch of the other 54 is the case a user reported as false alarms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanflow.check import (
    DefaultDetector,
    IntegrityDetector,
    PSIDetector,
    feature_ranking,
    get_detector,
    get_detector_class,
)
from scanflow.check.integrity import balance_p_value

N_REFERENCE = 124  # the other 54 rows are the clean batch


@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).data


def _split(wine, seed):
    perm = np.random.default_rng(seed).permutation(len(wine))
    return wine.iloc[perm[:N_REFERENCE]], wine.iloc[perm[N_REFERENCE:]]


def _detector(name):
    params = get_detector_class(name)._test_params() if name == "default" else {}
    return get_detector(name, **params)


@pytest.mark.parametrize("name", ["ks", "psi", "pca", "integrity", "default"])
def test_a_clean_wine_batch_of_54_rows_raises_no_alarm(wine, name):
    ref, batch = _split(wine, seed=1)
    result = _detector(name).fit(ref).predict(batch)
    assert len(batch) == 54
    assert not result.is_drift, result.metadata.get("issues") or result.summary()


@pytest.mark.parametrize("name", ["psi", "integrity"])
def test_false_alarms_on_clean_wine_batches_stay_rare(wine, name):
    # ks, pca and default test at alpha = 0.05 with exact p-values; psi and integrity used
    # to alarm on most of these splits (chance PSI, a 124-row reference's narrow range)
    alarms = [_detector(name).fit(ref).predict(batch).is_drift
              for ref, batch in (_split(wine, seed) for seed in range(20))]
    assert sum(alarms) <= 3, f"{sum(alarms)}/20 clean 54-row batches raised an alarm"


@pytest.mark.parametrize("name", ["ks", "psi"])
@pytest.mark.parametrize("column", ["proline", "alcohol", "hue"])
def test_a_two_std_offset_of_one_column_is_caught_on_54_rows(wine, name, column):
    ref, batch = _split(wine, seed=1)
    det = _detector(name).fit(ref)
    shifted = batch.assign(**{column: batch[column] + 2 * ref[column].std()})
    result = det.predict(shifted)
    assert result.is_drift
    assert result.metadata["most_drifted_feature"] == column


@pytest.mark.parametrize("name", ["ks", "psi"])
def test_scaling_one_column_by_1_5_is_caught_on_54_rows(wine, name):
    ref, batch = _split(wine, seed=1)
    assert _detector(name).fit(ref).predict(batch.assign(alcohol=batch.alcohol * 1.5)).is_drift


def test_psi_states_the_batch_size_it_needs(wine):
    ref, batch = _split(wine, seed=1)
    det = PSIDetector().fit(ref)
    assert det.min_batch_size_ > len(batch)
    r = det.predict(batch)
    assert r.metadata["below_min_batch_size"] and "below min_batch_size" in r.metadata["note"]
    assert r.threshold == pytest.approx(det.chance_threshold(len(batch))) and r.threshold > 0.2
    assert r.metadata["psi_threshold"] == 0.2


def test_psi_uses_its_threshold_from_min_batch_size_on():
    rng = np.random.default_rng(0)
    det = PSIDetector().fit(rng.normal(size=(5000, 3)))
    n = det.min_batch_size_
    assert 50 < n < 1000
    assert det.chance_threshold(n) <= 0.2 < det.chance_threshold(n // 2)
    r = det.predict(rng.normal(size=(n, 3)))
    assert r.threshold == 0.2 and not r.metadata["below_min_batch_size"]
    assert "note" not in r.metadata


def test_psi_chance_level_is_calibrated_on_small_batches():
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(40):
        x = rng.normal(size=(300, 5))
        alarms += PSIDetector(n_simulations=300).fit(x[:250]).predict(x[250:]).is_drift
    assert alarms <= 5


def test_psi_min_batch_size_survives_save_and_load(wine, tmp_path):
    from scanflow.check import Detector

    ref, batch = _split(wine, seed=1)
    det = PSIDetector().fit(ref)
    loaded = Detector.load(det.save(tmp_path / "psi.npz"))
    assert loaded.min_batch_size_ == det.min_batch_size_
    assert loaded.predict(batch).threshold == det.predict(batch).threshold


def test_integrity_small_reference_integer_columns_are_numeric_not_categories(wine):
    ref, batch = _split(wine, seed=1)
    small = ref.iloc[:20]  # magnesium and proline: <= 20 distinct integers in 20 rows
    assert small.magnesium.nunique() <= 20 and (small.magnesium % 1 == 0).all()
    det = IntegrityDetector().fit(small)
    kinds = {c["name"]: c["kind"] for c in det.spec_["columns"]}
    assert kinds["magnesium"] == kinds["proline"] == "numeric"
    assert not det.predict(batch).is_drift  # no "unseen category" 101 mg, no range alarm


def test_integrity_balance_test_does_not_alarm_on_small_clean_batches():
    rng = np.random.default_rng(2)
    classes = rng.choice([0, 1, 2, 3], size=2000, p=[0.5, 0.3, 0.15, 0.05])
    det = IntegrityDetector().fit(pd.DataFrame({"label": classes[:200]}))
    assert det.spec_["columns"][0]["kind"] == "categorical"
    alarms = [det.predict(pd.DataFrame({"label": classes[200 + 20 * i: 220 + 20 * i]})).is_drift
              for i in range(50)]
    assert sum(alarms) <= 3
    flipped = pd.DataFrame({"label": [3] * 12 + [0] * 8})
    assert "balance" in det.predict(flipped).metadata["checks"]


def test_balance_p_value_is_exact_for_small_counts():
    assert balance_p_value([50, 30, 15, 5], [10, 6, 3, 1]) > 0.5
    assert balance_p_value([50, 30, 15, 5], [0, 0, 0, 20]) < 1e-3
    big = balance_p_value([5000, 3000, 2000], [500, 300, 200])
    assert big == pytest.approx(1.0)


def test_integrity_missing_values_rules():
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    ref = pd.DataFrame({"never": x[:200], "sometimes": np.where(rng.random(200) < 0.1, np.nan,
                                                                 x[200:])})
    det = IntegrityDetector().fit(ref)
    batch = pd.DataFrame({"never": x[:54], "sometimes": x[:54]})
    batch.loc[:4, "sometimes"] = np.nan  # 5/54, like the reference's 10 %
    assert not det.predict(batch).is_drift
    batch.loc[0, "never"] = np.nan  # never missing in the reference: always a finding
    issues = det.predict(batch).metadata["issues"]
    assert [(i["check"], i["column"]) for i in issues] == [("missing", "never")]
    batch.loc[:30, "sometimes"] = np.nan  # 31/54
    assert ("missing", "sometimes") in {(i["check"], i["column"])
                                        for i in det.predict(batch).metadata["issues"]}


def test_integrity_states_the_batch_size_it_needs(wine):
    ref, batch = _split(wine, seed=1)
    det = IntegrityDetector().fit(ref)
    assert 1 <= det.min_batch_size_ <= len(batch)
    r = det.predict(batch.iloc[:1])
    assert r.metadata["below_min_batch_size"] == (det.min_batch_size_ > 1)
    assert r.metadata["alpha_per_test"] == pytest.approx(0.05 / 13)


def test_ae_and_pca_report_per_feature_error_ratios(wine):
    ref, batch = _split(wine, seed=1)
    shifted = batch.assign(proline=batch.proline + 3 * ref.proline.std())
    for det in (get_detector("pca").fit(ref), DefaultDetector(**DefaultDetector._test_params())
                .fit(ref)):
        r = det.predict(shifted)
        ratios = dict(zip(r.metadata["feature_names"], r.metadata["feature_error_ratio"],
                          strict=True))
        assert set(ratios) == set(wine.columns) and ratios["proline"] > 2
    assert feature_ranking(r)[0]["feature"] == "proline"  # the AE of the default detector


def test_default_detector_latent_and_reconstruct_match_columns_by_name(fitted_named, named_data):
    det = fitted_named("default", "table")
    batch = next(named_data["table"].batches(named_data["table"].clean, 1))
    shuffled = batch[list(batch.columns[::-1])]
    np.testing.assert_allclose(det.latent(shuffled), det.latent(batch), rtol=1e-6)
    np.testing.assert_allclose(det.reconstruct(shuffled), det.reconstruct(batch), rtol=1e-6)
    np.testing.assert_allclose(det.p_values(shuffled), det.p_values(batch), rtol=1e-6)


def test_feature_ranking_orders_ks_by_p_value_and_psi_by_value(wine):
    ref, batch = _split(wine, seed=1)
    shifted = batch.assign(hue=batch.hue + 2 * ref.hue.std())
    ks = feature_ranking(get_detector("ks").fit(ref).predict(shifted), top=3)
    assert [r["feature"] for r in ks][0] == "hue" and len(ks) == 3
    assert ks[0]["p_value"] <= ks[1]["p_value"] <= ks[2]["p_value"]
    psi = feature_ranking(get_detector("psi").fit(ref).predict(shifted), top=None)
    assert len(psi) == 13 and psi[0]["feature"] == "hue" and psi[0]["p_value"] is None
    assert psi[0]["statistic"] >= psi[1]["statistic"]
