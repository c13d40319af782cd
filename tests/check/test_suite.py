"""The shared check suite: every registered detector, on every input kind it takes.

Parametrised over the registry at collection time, so a detector registered with
``@register_detector`` (like the ``example_mean_shift`` plugin in conftest.py) or through the
``scanflow.detectors`` entry point is tested the moment it exists.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from scanflow.check import (
    CheckResult,
    Detector,
    DetectorInputError,
    NotFittedError,
    available_detectors,
    get_detector_class,
)

KIND_ORDER = ("image", "table", "categorical")


def _cases():
    cases = []
    for name in available_detectors():
        cls = get_detector_class(name)
        if name.endswith("_doc"):  # registered by a docstring example
            continue
        for kind in KIND_ORDER:
            if kind in cls.input_kinds:
                cases.append(pytest.param((name, kind), id=f"{name}-{kind}"))
    return cases


CASES = _cases()


@pytest.fixture
def case(request, kind_data, fitted):
    name, kind = request.param
    data = kind_data[kind]
    return name, data, fitted(name, kind, data)


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_score_is_one_float_per_sample(case):
    _, data, det = case
    batch = next(data.batches(data.clean, 1))
    scores = det.score(batch)
    assert scores.shape == (len(batch),)
    assert scores.dtype == np.float64
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_predict_returns_the_shared_schema(case):
    name, data, det = case
    batch = next(data.batches(data.clean, 1))
    result = det.predict(batch)
    assert isinstance(result, CheckResult)
    assert result.detector == name
    assert result.n_samples == len(batch)
    if result.instance_scores is not None:
        assert len(result.instance_scores) == len(batch)
    if result.is_outlier is not None:
        assert len(result.is_outlier) == len(batch)
    if result.p_value is not None:
        assert 0.0 <= result.p_value <= 1.0
    again = CheckResult.model_validate(json.loads(result.to_json()))
    assert again == result


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_save_load_round_trip_keeps_scores_and_decisions(case, tmp_path):
    _, data, det = case
    batch = next(data.batches(data.shifted, 1))
    path = det.save(tmp_path / "det.npz")
    loaded = Detector.load(path)
    assert type(loaded) is type(det)
    assert loaded.get_params() == det.get_params()
    np.testing.assert_allclose(loaded.score(batch), det.score(batch), rtol=1e-5, atol=1e-7)
    a, b = det.predict(batch), loaded.predict(batch)
    assert a.is_drift == b.is_drift
    assert a.p_value == pytest.approx(b.p_value, rel=1e-5, abs=1e-9) if a.p_value else True


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_false_alarms_on_clean_batches_stay_low(case):
    _, data, det = case
    alarms = [det.predict(b).is_drift for b in data.batches(data.clean, 20, seed=3)]
    assert sum(alarms) <= 4, f"{sum(alarms)}/20 clean batches raised an alarm"


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_obvious_shift_is_detected(case):
    _, data, det = case
    if det.reports_schema and data.kind == "image":
        pytest.skip("integrity checks image schema / range / NaN, not image content")
    hits = [det.predict(b).is_drift for b in data.batches(data.shifted, 5, seed=4)]
    assert sum(hits) >= 4, f"only {sum(hits)}/5 shifted batches detected"


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_unfitted_detector_raises_a_clear_error(case):
    name, data, det = case
    fresh = det.clone()
    batch = next(data.batches(data.clean, 1))
    with pytest.raises(NotFittedError, match="fit"):
        fresh.predict(batch)
    with pytest.raises(NotFittedError):
        fresh.score(batch)


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_empty_batch_raises(case):
    _, data, det = case
    batch = next(data.batches(data.clean, 1))
    empty = batch.iloc[:0] if hasattr(batch, "iloc") else batch[:0]
    with pytest.raises(DetectorInputError, match="empty"):
        det.predict(empty)


def _wrong_shape(batch):
    if hasattr(batch, "iloc"):
        return batch.iloc[:, :1]
    if batch.ndim == 3:
        return batch[:, :20, :20]
    return batch[:, :2]


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_wrong_shape_is_an_error_or_a_reported_schema_issue(case):
    _, data, det = case
    bad = _wrong_shape(next(data.batches(data.clean, 1)))
    if det.reports_schema:
        result = det.predict(bad)
        assert result.is_drift and "schema" in result.metadata["checks"]
    else:
        with pytest.raises(DetectorInputError, match="shape|columns"):
            det.predict(bad)


def _wrong_dtype(batch):
    if hasattr(batch, "iloc"):  # categories replaced by continuous numbers
        return batch.assign(**{c: np.linspace(0.1, 0.9, len(batch)) for c in batch.columns})
    return np.full(batch.shape, "x", dtype=object)


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_wrong_dtype_is_an_error_or_a_reported_issue(case):
    _, data, det = case
    bad = _wrong_dtype(next(data.batches(data.clean, 1)))
    if det.reports_schema:
        assert det.predict(bad).is_drift
    else:
        with pytest.raises(DetectorInputError, match="dtype|numbers|continuous|labels"):
            det.predict(bad)


def _with_nan(batch):
    if hasattr(batch, "iloc"):
        bad = batch.copy()
        bad.iloc[0, 0] = None
        return bad
    bad = batch.astype(np.float64) / (255.0 if batch.dtype == np.uint8 else 1.0)
    bad.flat[5] = np.nan
    return bad


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_nan_is_an_error_or_a_reported_issue(case):
    _, data, det = case
    bad = _with_nan(next(data.batches(data.clean, 1)))
    if det.allow_nan:
        result = det.predict(bad)
        assert result.is_drift and "missing" in result.metadata["checks"]
        values = bad.isna().to_numpy() if hasattr(bad, "isna") else np.isnan(bad)
        nan_rows = values.reshape(len(values), -1).any(1)
        assert np.asarray(result.is_outlier)[nan_rows].all()
    else:
        with pytest.raises(DetectorInputError, match="NaN|missing"):
            det.predict(bad)


@pytest.mark.parametrize("name", sorted({c.values[0][0] for c in CASES}))
def test_params_round_trip_through_the_constructor(name):
    cls = get_detector_class(name)
    det = cls(**cls._test_params())
    clone = det.clone()
    assert clone.get_params() == det.get_params()
    assert clone is not det and not clone.is_fitted
    assert name in repr(det) or cls.__name__ in repr(det)


def test_suite_covers_every_builtin_and_the_plugin():
    names = {c.values[0][0] for c in CASES}
    assert {"ae", "default", "latent", "ks", "mmd", "chi2", "psi", "pca", "integrity",
            "pose", "example_mean_shift"} <= names


# --------------------------------------------------------- table columns are matched by name
NAMED_CASES = [c for c in CASES if c.values[0][1] in ("table", "categorical")]


@pytest.fixture
def named_case(request, named_data, fitted_named):
    name, kind = request.param
    return name, named_data[kind], fitted_named(name, kind)


def _assert_same_result(a: CheckResult, b: CheckResult) -> None:
    assert a.is_drift == b.is_drift
    for field in ("score", "p_value", "threshold"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None)
        if x is not None:
            assert x == pytest.approx(y, rel=1e-6, abs=1e-12), field
    if a.instance_scores is not None:
        np.testing.assert_allclose(a.instance_scores, b.instance_scores, rtol=1e-6, atol=1e-9)


def _schema_issue(result: CheckResult, key: str) -> dict:
    found = [i for i in result.metadata["issues"] if i["check"] == "schema" and i.get(key)]
    assert result.is_drift and found, result.metadata["issues"]
    return found[0]


@pytest.mark.parametrize("named_case", NAMED_CASES, indirect=True)
def test_reordered_columns_give_the_same_result_and_no_drift(named_case):
    _, data, det = named_case
    batch = next(data.batches(data.clean, 1, seed=5))
    shuffled = batch[list(batch.columns[::-1])]
    original, reordered = det.predict(batch), det.predict(shuffled)
    assert not reordered.is_drift
    _assert_same_result(original, reordered)
    np.testing.assert_allclose(det.score(shuffled), det.score(batch), rtol=1e-6, atol=1e-9)
    assert not (det.reports_schema and reordered.metadata["issues"])


@pytest.mark.parametrize("named_case", NAMED_CASES, indirect=True)
def test_a_missing_column_is_named(named_case):
    _, data, det = named_case
    batch = next(data.batches(data.clean, 1))
    gone = str(batch.columns[1])
    if det.reports_schema:
        issue = _schema_issue(det.predict(batch.drop(columns=[gone])), "missing")
        assert issue["missing"] == [gone] and repr(gone) in issue["message"]
    else:
        with pytest.raises(DetectorInputError, match=rf"missing columns \['{gone}'\].*add them"):
            det.predict(batch.drop(columns=[gone]))


@pytest.mark.parametrize("named_case", NAMED_CASES, indirect=True)
def test_an_extra_column_is_named(named_case):
    _, data, det = named_case
    batch = next(data.batches(data.clean, 1)).assign(surprise=1.0)
    if det.reports_schema:
        issue = _schema_issue(det.predict(batch), "extra")
        assert issue["extra"] == ["surprise"] and "'surprise'" in issue["message"]
    else:
        with pytest.raises(DetectorInputError,
                           match=r"unexpected columns \['surprise'\].*drop them.*refit"):
            det.predict(batch)


@pytest.mark.parametrize("named_case", NAMED_CASES, indirect=True)
def test_name_matching_survives_save_and_load(named_case, tmp_path):
    _, data, det = named_case
    batch = next(data.batches(data.clean, 1, seed=5))
    loaded = Detector.load(det.save(tmp_path / "named.npz"))
    assert loaded.feature_names_in_ == [str(c) for c in data.ref.columns]
    _assert_same_result(det.predict(batch), loaded.predict(batch[list(batch.columns[::-1])]))
    gone = str(batch.columns[0])
    if det.reports_schema:
        assert _schema_issue(loaded.predict(batch.drop(columns=[gone])), "missing")
    else:
        with pytest.raises(DetectorInputError, match=gone):
            loaded.predict(batch.drop(columns=[gone]))


@pytest.mark.parametrize("named_case", NAMED_CASES, indirect=True)
def test_an_array_of_the_reference_width_is_taken_positionally(named_case):
    _, data, det = named_case
    batch = next(data.batches(data.clean, 1, seed=5))
    _assert_same_result(det.predict(batch), det.predict(batch.to_numpy()))
    if not det.reports_schema:
        first = str(data.ref.columns[0])
        with pytest.raises(DetectorInputError, match=rf"fitted on \d+ columns.*{first}"):
            det.predict(batch.to_numpy()[:, :1])
