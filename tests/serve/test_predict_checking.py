"""Inline outlier flags and background drift windows with a real fitted autoencoder detector."""

import pytest
import torch
from fastapi.testclient import TestClient

from scanflow.check import AutoencoderDetector
from scanflow.datasets import corrupt, load_mnist
from scanflow.improve.classifier import MnistCNN
from scanflow.serve.model_slot import ModelSlot, StaticModelSource
from scanflow.serve.predict import PredictionService, create_prediction_app

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def detector():
    X, _ = load_mnist("train", limit=600)
    return AutoencoderDetector(epochs=3, random_state=0, n_threads=2).fit(X)


@pytest.fixture(scope="module")
def clean_and_fog():
    X, _ = load_mnist("test", limit=200)
    return X, corrupt(X, "fog", seed=1)


def _service(detector, window=100):
    torch.manual_seed(0)
    net = MnistCNN(channels=(4, 8), hidden=16).eval()
    return PredictionService(ModelSlot(StaticModelSource(net, name="digits"), poll_interval=0),
                             detector=detector, drift_window=window)


def test_each_prediction_carries_the_detectors_flag(detector, clean_and_fog):
    X, _ = clean_and_fog
    service = _service(detector)
    with TestClient(create_prediction_app(service)) as client:
        body = client.post("/predict", json={"image": X[0].tolist(), "check": "inline"}).json()
    expected = detector.predict(X[:1])
    assert body["outlier"]["is_outlier"] == expected.is_outlier[0]
    assert body["outlier"]["score"] == pytest.approx(expected.instance_scores[0], rel=1e-5)
    assert body["outlier"]["threshold"] == pytest.approx(expected.instance_threshold)


def test_corrupted_inputs_are_flagged_far_more_often_than_clean_ones(detector, clean_and_fog):
    X, X_fog = clean_and_fog
    service = _service(detector)
    with TestClient(create_prediction_app(service)) as client:
        clean = client.post("/predict/batch", json={"images": X[:100].tolist()}).json()
        fog = client.post("/predict/batch", json={"images": X_fog[:100].tolist()}).json()
    assert clean["n_outliers"] <= 15 and fog["n_outliers"] >= 40
    assert fog["n_outliers"] == sum(p["outlier"]["is_outlier"] for p in fog["predictions"])


def test_drift_is_checked_per_window_in_the_background(detector, clean_and_fog):
    X, X_fog = clean_and_fog
    service = _service(detector, window=100)
    with TestClient(create_prediction_app(service)) as client:
        for chunk in (X[:50], X[50:100], X_fog[:50], X_fog[50:100]):
            client.post("/predict/batch", json={"images": chunk.tolist(), "check": "deferred"})
        assert service.wait_for_checks(60)
        service.drift.flush()  # the thread may not have run yet: check what is complete now
        windows = client.get("/drift").json()["windows"]
    assert [(w["start"], w["end"]) for w in windows] == [(0, 100), (100, 200)]
    assert [w["is_drift"] for w in windows] == [False, True]
    assert windows[1]["outlier_share"] > windows[0]["outlier_share"]
    assert windows[0]["model_version"] == "1"
