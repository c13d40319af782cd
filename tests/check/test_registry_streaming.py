"""Plugins (decorator and entry point), the default detector, streaming, reports, tracking."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

import scanflow.check.registry as registry
from scanflow.check import (
    Detector,
    KSDetector,
    StreamingDetector,
    available_detectors,
    default_detector,
    get_detector,
    register_detector,
    unregister_detector,
)
from scanflow.check.report import render_report
from scanflow.datasets import corrupt, make_stream


def test_builtins_are_registered():
    assert {"ae", "default", "latent", "ks", "mmd", "chi2", "psi", "pca",
            "integrity", "pose"} <= set(available_detectors())


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_detector("ks")(type("OtherKS", (Detector,), {}))


def test_plugin_from_decorator_runs_with_the_same_schema(kind_data):
    data = kind_data["table"]
    det = get_detector("example_mean_shift").fit(data.ref)
    result = det.predict(data.shifted[:200])
    assert result.detector == "example_mean_shift" and result.is_drift
    html = render_report(result, det)
    assert "example_mean_shift" in html


def test_plugin_from_an_entry_point(tmp_path, monkeypatch):
    pkg = tmp_path / "my_detectors"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        from scanflow.check import Detector, CheckResult

        class CountDetector(Detector):
            input_kinds = ("table",)
            def __init__(self, *, limit: int = 10):
                self.limit = limit
            def _fit(self, data):
                pass
            def _score(self, data):
                return np.zeros(len(data))
            def _predict(self, data):
                return CheckResult(detector=self.name, is_drift=len(data) > self.limit,
                                   score=len(data), threshold=self.limit, n_samples=len(data))
    '''))
    dist = tmp_path / "my_detectors-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-detectors\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[scanflow.detectors]\ncount_detector = my_detectors:CountDetector\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    try:
        assert "count_detector" in available_detectors()
        det = get_detector("count_detector", limit=5).fit(np.zeros((3, 2)))
        assert det.predict(np.zeros((8, 2))).is_drift
    finally:
        unregister_detector("count_detector")
        sys.modules.pop("my_detectors", None)


def test_default_detector_catches_geometric_and_contrast_shifts(kind_data):
    data = kind_data["image"]
    detector = default_detector(epochs=2, latent_dim=8, n_permutations=100, pose_epochs=3,
                               random_state=0).fit(data.ref)
    clean = detector.predict(data.clean[:100])
    assert not clean.is_drift
    assert set(clean.metadata["components"]) == {"reconstruction_error", "latent_mmd", "pose"}
    assert detector.predict(corrupt(data.clean[:100], "rotate")).is_drift
    assert detector.predict(corrupt(data.clean[:100], "scale")).is_drift
    assert detector.predict((data.clean[:100] * 0.4).astype(np.uint8)).is_drift
    assert detector.latent(data.clean[:3]).shape == (3, 8)
    assert detector.p_values(data.clean[:3]).shape == (3,)


def test_streaming_reports_when_drift_starts(mnist_small):
    X_ref, X_new = mnist_small
    det = KSDetector(alpha=0.01).fit(X_ref.reshape(len(X_ref), -1) / 255)
    stream = make_stream(X_new, batch_size=50, n_clean=6, n_drift=4, corruption="fog", seed=0)
    sd = StreamingDetector(det, window_size=100, step=25, patience=2)
    for batch in stream:
        for x in batch.X.reshape(len(batch.X), -1) / 255:
            sd.update(x)  # one sample at a time
    assert sd.drift_detected
    onset = 6 * 50
    assert onset - 100 <= sd.drift_started_at <= onset + 50
    assert onset < sd.drift_detected_at <= onset + 150
    assert sd.window().shape == (100, 784)  # bounded memory


def test_streaming_rejects_samples_of_the_wrong_shape():
    det = KSDetector().fit(np.zeros((20, 3)) + np.arange(20)[:, None])
    with pytest.raises(ValueError, match="shape"):
        StreamingDetector(det, window_size=10).update(np.zeros(4))


def test_report_contains_plots_and_the_worst_images(mnist_small, small_ae):
    _, X_new = mnist_small
    det = small_ae
    batch = corrupt(X_new[:40], "stripe")
    result = det.predict(batch)
    html = render_report(result, det, X_new=batch)
    assert html.count("data:image/png;base64,") == 2
    assert "Most anomalous samples" in html and "DRIFT" in html


def test_log_check_to_mlflow(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from scanflow.check.tracking import log_check

    det = KSDetector().fit(np.random.default_rng(0).normal(size=(200, 2)))
    result = det.predict(np.random.default_rng(1).normal(size=(50, 2)) + 3)
    report = tmp_path / "r.html"
    report.write_text(render_report(result, det))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_check(result, params={"detector": "ks"}, report=report, tracking_uri=uri)
    client = mlflow.tracking.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.metrics["is_drift"] == 1.0
    assert run.data.params["detector"] == "ks"
    names = {a.path for a in client.list_artifacts(run_id, "check")}
    assert names == {"check/check_result.json", "check/r.html"}
    local = client.download_artifacts(run_id, "check/check_result.json", str(tmp_path))
    assert json.loads(open(local).read())["detector"] == "ks"
