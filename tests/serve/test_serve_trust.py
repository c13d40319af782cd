"""Serving a model logged by code that knows nothing of Scanflow (plain ``mlflow.sklearn``), and
the trust settings that flow from the application and from ``scanflow serve`` to the loader.

A decision tree saved with skops holds ``sklearn.tree._tree.Tree``, a type skops does not trust
by default: Scanflow refuses to load it until the service is told to trust it.
"""

import pytest
from serve_helpers import application, http

from user_models import wine

TREE = "sklearn.tree._tree.Tree"


@pytest.fixture(scope="module")
def data():
    return wine()


@pytest.fixture(scope="module")
def tree(registry, data):
    """A tree logged and registered the way any MLflow user does it; returns the estimator."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.tree import DecisionTreeClassifier

    from scanflow.track.store import fluent_tracking_uri  # restores MLflow's global URI after

    X, y = data[0], data[1]
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    with fluent_tracking_uri(registry.uri), mlflow.start_run(experiment_id=registry.experiment_id):
        mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, y),
                                 registered_model_name="plain-tree",
                                 skops_trusted_types=[TREE], pip_requirements=["scikit-learn"])
    registry.promote("plain-tree", 1)
    return model


def _records(X):
    return X.to_dict("records")


def test_an_untrusted_type_is_refused_with_the_setting_that_trusts_it(tracker, tree, tmp_path, data):
    from scanflow.serve.stack import ServeStack

    stack = ServeStack(application(tmp_path, tracker, model="plain-tree"), poll_interval=0)
    with http(stack.api) as client:
        r = client.post("/predict", json={"record": _records(data[2].iloc[:1])[0]})
    assert r.status_code == 503
    detail = r.json()["detail"]["message"]
    assert TREE in detail
    assert f"--trust-type {TREE}" in detail and f"trusted_types: [{TREE}]" in detail


def test_trusted_types_in_the_service_parameters_serve_it(tracker, tree, tmp_path, data):
    from scanflow.serve.stack import ServeStack

    app = application(tmp_path, tracker, model="plain-tree", trusted_types=[TREE])
    stack = ServeStack(app, poll_interval=0)
    X_test = data[2]
    with http(stack.api) as client:
        body = client.post("/predict/batch", json={"records": _records(X_test)}).json()
        model = client.get("/model").json()["model"]
    assert [p["label"] for p in body["predictions"]] == tree.predict(X_test).tolist()
    assert model["flavor"] == "sklearn" and model["input"]["kind"] == "table"
    assert [c["name"] for c in model["input"]["columns"]] == list(X_test.columns)


def test_trust_given_to_the_stack_adds_to_the_application(tracker, tree, tmp_path):
    from scanflow.serve.stack import ServeStack

    app = application(tmp_path, tracker, model="plain-tree", trusted_types=["a.B"])
    stack = ServeStack(app, poll_interval=0, trusted_types=[TREE])
    assert stack.slot.source.trusted_types == ("a.B", TREE)
    assert stack.prediction.load() and stack.slot.get().model.flavor == "sklearn"


def test_a_bad_trust_setting_names_the_parameter(tracker, tmp_path):
    from scanflow.serve.stack import ServeStack

    with pytest.raises(ValueError, match="parameters.allow_pickle is 'yes please': use true or false"):
        ServeStack(application(tmp_path, tracker, model="plain-tree", allow_pickle="yes please"))


def _app_file(folder, registry, **parameters):
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": "plain", "tracker": {"uri": registry.uri},
            "services": [{"name": "predict", "parameters": {"model": "plain-tree", **parameters}}]}
    (folder / "scanflow.yaml").write_text(yaml.safe_dump(spec))
    return folder


def _cli(monkeypatch, *args):
    """Run ``scanflow serve`` with Uvicorn replaced by a catcher; returns (exit code, its output
    on one line, the app it would serve)."""
    import uvicorn
    from typer.testing import CliRunner

    from scanflow.cli import app as cli

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda api, **kw: served.update(api=api, **kw))
    result = CliRunner().invoke(cli, ["serve", *args])
    return result.exit_code, " ".join(result.output.split()), served.get("api")


def test_scanflow_serve_trust_type_reaches_the_loader(tracker, tree, tmp_path, monkeypatch, data):
    folder = _app_file(tmp_path / "app", tracker)
    code, output, api = _cli(monkeypatch, str(folder), "--trust-type", TREE, "--poll-every", "0")
    assert code == 0, output
    assert "takes a table of 13 columns" in output
    with http(api) as client:
        body = client.post("/predict", json={"record": _records(data[2].iloc[:1])[0]}).json()
    assert body["label"] == int(tree.predict(data[2].iloc[:1])[0])


def test_scanflow_serve_without_trust_says_what_to_pass(tracker, tree, tmp_path, monkeypatch):
    folder = _app_file(tmp_path / "app", tracker)
    code, output, _ = _cli(monkeypatch, str(folder), "--poll", "0")  # the old, hidden spelling
    assert code == 0
    assert "no model served yet" in output and f"--trust-type {TREE}" in output


def test_scanflow_serve_refuses_a_detector_of_another_kind(tracker, tree, tmp_path, monkeypatch):
    import numpy as np

    from scanflow.check import PCADetector

    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8)
    path = PCADetector().fit(images).save(tmp_path / "detector.npz")
    folder = _app_file(tmp_path / "app", tracker, trusted_types=[TREE])
    code, output, api = _cli(monkeypatch, str(folder), "--detector", str(path), "--poll-every", "0")
    assert code == 2 and api is None
    assert "detector.npz was fitted on images 8x8" in output
    assert "the model 'plain-tree' takes a table of 13 columns" in output
