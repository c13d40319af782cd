"""Statistical tests and integrity checks on the cases the issue names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanflow.check import (
    Chi2Detector,
    IntegrityDetector,
    KSDetector,
    MMDDetector,
    PCADetector,
    PSIDetector,
    adjust_p_values,
    mmd_permutation_test,
)


def test_bonferroni_and_fdr_adjustments():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    np.testing.assert_allclose(adjust_p_values(p, "fdr"), [0.04, 0.0533333, 0.0533333, 0.5],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="correction"):
        adjust_p_values(p, "holm-ish")


def test_ks_reports_which_feature_drifted():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(rng.normal(size=(1000, 3)), columns=["a", "b", "c"])
    new = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    new["b"] += 0.8
    r = KSDetector(correction="bonferroni").fit(ref).predict(new)
    assert r.is_drift and r.metadata["most_drifted_feature"] == "b"
    assert r.metadata["n_drifted_features"] == 1


def test_mmd_permutation_p_value_is_uniform_under_the_null():
    rng = np.random.default_rng(1)
    ps = [mmd_permutation_test(rng.normal(size=(60, 2)), rng.normal(size=(30, 2)), 1.0, 50,
                               seed=i)[1] for i in range(40)]
    assert 0.3 < np.mean(ps) < 0.7
    _, p = mmd_permutation_test(rng.normal(size=(60, 2)), rng.normal(size=(30, 2)) + 1, 1.0, 50)
    assert p < 0.05


def test_mmd_catches_a_variance_change_the_means_do_not_show():
    rng = np.random.default_rng(2)
    det = MMDDetector(n_permutations=100).fit(rng.normal(size=(500, 2)))
    assert det.predict(rng.normal(size=(200, 2)) * 2.0).is_drift


def test_chi2_unseen_category_and_balance_change():
    ref = pd.DataFrame({"colour": ["red"] * 300 + ["blue"] * 700})
    det = Chi2Detector().fit(ref)
    unseen = det.predict(pd.DataFrame({"colour": ["red", "blue", "black"] * 40}))
    assert unseen.is_drift and unseen.metadata["unseen_categories"] == {"colour": ["black"]}
    balance = det.predict(pd.DataFrame({"colour": ["red"] * 60 + ["blue"] * 40}))
    assert balance.is_drift and not balance.metadata["unseen_categories"]
    same = det.predict(pd.DataFrame({"colour": ["red"] * 30 + ["blue"] * 70}))
    assert not same.is_drift


def test_psi_grows_with_the_shift():
    rng = np.random.default_rng(3)
    det = PSIDetector().fit(rng.normal(size=(2000, 1)))
    small = det.predict(rng.normal(size=(1000, 1)) + 0.05).score
    large = det.predict(rng.normal(size=(1000, 1)) + 1.0).score
    assert small < 0.1 < 0.2 < large


def test_pca_detects_broken_correlations_with_unchanged_marginals():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(2000, 1))
    ref = np.hstack([z, z + 0.1 * rng.normal(size=(2000, 1))])
    det = PCADetector(n_components=1).fit(ref)
    z2 = rng.normal(size=(200, 1))
    assert not det.predict(np.hstack([z2, z2 + 0.1 * rng.normal(size=(200, 1))])).is_drift
    assert det.predict(rng.normal(size=(200, 2))).is_drift


def test_integrity_unseen_category_red_blue_black():
    ref = pd.DataFrame({"colour": ["red"] * 30 + ["blue"] * 70})
    r = IntegrityDetector().fit(ref).predict(pd.DataFrame({"colour": ["red", "blue", "black"]}))
    assert r.is_drift
    issue = r.metadata["issues"][0]
    assert issue["check"] == "unseen_categories" and issue["categories"] == ["black"]
    assert r.is_outlier == [False, False, True]


def test_integrity_class_balance_30_70_to_60_40():
    ref = pd.DataFrame({"colour": ["red"] * 300 + ["blue"] * 700})
    det = IntegrityDetector().fit(ref)
    r = det.predict(pd.DataFrame({"colour": ["red"] * 60 + ["blue"] * 40}))
    assert [i["check"] for i in r.metadata["issues"]] == ["balance"]
    assert "red 30% -> 60%" in r.metadata["issues"][0]["message"]
    assert not det.predict(pd.DataFrame({"colour": ["red"] * 31 + ["blue"] * 69})).is_drift


def test_integrity_labels_as_integer_classes():
    y_ref = np.repeat(np.arange(10), 100)
    det = IntegrityDetector().fit(y_ref)
    assert not det.predict(np.repeat(np.arange(10), 10)).is_drift
    r = det.predict(np.r_[np.zeros(50, int), np.arange(10), [11]])
    assert {i["check"] for i in r.metadata["issues"]} == {"balance", "unseen_categories"}


def test_integrity_schema_range_nan_and_dtype():
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"age": rng.integers(18, 90, 500).astype(float),
                        "income": rng.normal(3000, 500, 500), "city": ["a", "b"] * 250})
    det = IntegrityDetector().fit(ref)
    assert not det.predict(ref.sample(100, random_state=0)).is_drift
    bad = ref.iloc[:100].copy()
    bad.loc[:9, "age"] = -5.0
    bad.loc[3, "income"] = np.nan
    bad = bad.drop(columns=["city"]).assign(extra=1)
    r = det.predict(bad)
    checks = {(i["check"], i["column"]) for i in r.metadata["issues"]}
    assert ("range", "age") in checks and ("missing", "income") in checks
    assert ("schema", None) in checks
    messages = " ".join(i["message"] for i in r.metadata["issues"])
    assert "missing columns ['city']" in messages and "unexpected columns ['extra']" in messages
    wrong_type = det.predict(ref.iloc[:50].assign(income="n/a"))
    assert ("dtype", "income") in {(i["check"], i["column"]) for i in wrong_type.metadata["issues"]}


def test_integrity_on_images_checks_shape_dtype_range(mnist_small):
    X, _ = mnist_small
    det = IntegrityDetector().fit(X)
    assert not det.predict(X[:50]).is_drift
    assert "schema" in det.predict(X[:5, :20, :20]).metadata["checks"]
    assert "dtype" in det.predict(X[:5].astype(np.float32)).metadata["checks"]


@pytest.mark.parametrize("shift", [0.0, 3.0])
def test_a_decision_from_earlier_scores_is_the_decision_on_the_data(shift):
    rng = np.random.default_rng(0)
    det = PCADetector(n_components=1).fit(rng.normal(size=(300, 3)))
    X = rng.normal(size=(80, 3)) + [shift, 0.0, 0.0]
    direct, from_scores = det.predict(X), det.predict_scores(det.score(X))
    assert from_scores.is_drift == direct.is_drift == (shift > 0)
    assert from_scores.p_value == pytest.approx(direct.p_value) and from_scores.score == pytest.approx(direct.score)
    assert from_scores.is_outlier == list(direct.is_outlier)
