"""The whole loop for the models people deploy, with the real things end to end.

* a scikit-learn pipeline on a table — the tabular example: trained by a real workflow run
  (subprocess nodes, tracked in MLflow), served by a real uvicorn, checked inline, supervised by
  the four agents, labeled by a person through the labeling REST API, improved by the
  application's own retrain workflow, gated, promoted and hot-swapped;
* a user's own torch CNN on 3-channel 32x32 images (not the demo's network), improved by the
  built-in fine-tuning;
* a model registered with plain ``mlflow.sklearn.log_model`` by code that knows nothing of
  Scanflow: served, checked inline and improved by the built-in refit.
"""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

torch = pytest.importorskip("torch")


class Loop:
    """A served application and its agents; sends batches and answers label requests."""

    def __init__(self, app, agents_config=None):
        from scanflow.agents import AgentRuntime
        from scanflow.serve.server import ServerThread
        from scanflow.serve.stack import ServeStack

        self.app = app
        self.stack = ServeStack(app, poll_interval=0.3)
        self.runtime = AgentRuntime(app, config=agents_config or {}, poll_interval=0.2)
        self.server = ServerThread(self.stack.api).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=60)
        self.truth: dict[int, object] = {}
        self.runtime.start()

    def close(self):
        self.runtime.stop()
        self.http.close()
        self.server.stop()

    def send(self, body: dict, y) -> dict:
        r = self.http.post("/predict/batch", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        for pred, label in zip(out["predictions"], y, strict=True):
            self.truth[pred["prediction_id"]] = label.item() if hasattr(label, "item") else label
        return out

    def label_as_a_person(self, labeler: str = "ana") -> int:
        """Answer every pending sample through the labeling REST API; returns how many."""
        done = 0
        while True:
            item = self.http.get("/label/api/next", params={"labeler": labeler}).json()["item"]
            if item is None:
                return done
            truth = self.truth[item["meta"]["prediction_id"]]
            position = [str(c) for c in item["classes"]].index(str(truth))
            r = self.http.post(f"/label/api/items/{item['id']}/label",
                               json={"label": position, "labeler": labeler})
            assert r.status_code == 200, r.text
            done += 1

    def served_version(self) -> str:
        return self.http.get("/model").json()["model"]["version"]


def _stream_until_promoted(loop, batches, baseline: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    for body, y in batches():
        loop.send(body, y)
        loop.label_as_a_person()
        if loop.served_version() != baseline:
            return
        assert time.time() < deadline, f"no promotion within {timeout}s: {loop.runtime.errors}"
        time.sleep(0.2)


def _stream_until_settled(loop, batches, timeout: float = 240) -> None:
    """Go on streaming (and labeling) until the drift episode is over: the model the loop ends
    with, not the first candidate that passed the gate on a few held-out labels."""
    from scanflow.agents.episodes import EpisodeStore

    episodes = EpisodeStore(loop.runtime.store)
    deadline = time.time() + timeout
    for body, y in batches():
        if episodes.list() and episodes.active() is None:
            return
        loop.send(body, y)
        loop.label_as_a_person()
        assert time.time() < deadline, f"the episode did not end within {timeout}s: {loop.runtime.errors}"
        time.sleep(0.2)


def _records(X):
    return {"records": X.astype(object).where(X.notna(), None).to_dict(orient="records")}


def test_a_pipeline_on_a_table_closes_the_loop_with_the_apps_own_retrain_workflow(tmp_path):
    from scanflow.app import load_app
    from scanflow.datasets import recalibrate_camera, split_segment
    from scanflow.demo.examples import get_example
    from scanflow.run import run_workflow

    folder = tmp_path / "tabular"
    shutil.copytree(get_example("tabular").app_dir, folder)
    app = load_app(folder)
    app.state_dir = str(tmp_path / "state")
    result = run_workflow(app, "training", handle_signals=False)  # subprocess nodes, tracked
    assert result.ok, {k: (v.status, v.error) for k, v in result.nodes.items()}
    loop = Loop(app)
    try:
        baseline = loop.served_version()
        _, _, _, _, X, y = split_segment(seed=0)
        clean = loop.send(_records(X.iloc[:60]), y[:60])
        assert clean["model"]["version"] == baseline and clean["predictions"][0]["outlier"] is not None
        rng = np.random.default_rng(0)

        def batches():
            while True:
                idx = rng.choice(len(X), 60, replace=False)
                yield _records(recalibrate_camera(X.iloc[idx])), y[idx]

        _stream_until_promoted(loop, batches, baseline)
        shifted = recalibrate_camera(X.iloc[:300])
        after = loop.send(_records(shifted), y[:300])
        accuracy = np.mean([p["label"] == t for p, t in zip(after["predictions"], y[:300], strict=True)])
        assert accuracy > 0.75
        made_by = [d["reason"] for d in loop.runtime.history("planner") if d["decision"] == "promote"]
        assert made_by and loop.stack.labels.progress()["human"] > 0
        retrain_runs = [r for r in (Path(app.state_path) / "runs").iterdir()
                        if (r / "nodes" / "retrain" / "retrain").exists()]
        assert retrain_runs, "the improver did not run the application's retrain workflow"
    finally:
        loop.close()


def _image_app(tmp_path, model_name: str):
    from scanflow.app import Agent, Application, Service

    app = Application(name="shapes", state_dir=str(tmp_path / "state"),
                      services=[Service(name="predict", command=["scanflow", "serve", "."],
                                        parameters={"model": model_name, "detector": "detector.npz",
                                                    "drift_window": 100,
                                                    "trusted_architectures": ["user_models:ColorNet"]})],
                      agents=[
                          Agent(name="tracker", kind="tracker", talks_to=["checker"], config={"batch_size": 60}),
                          Agent(name="checker", kind="checker", talks_to=["improver"],
                                config={"detector": "detector.npz"}),
                          Agent(name="improver", kind="improver", talks_to=["planner"], config={
                              "train_data": "user_models:color_train_data",
                              "eval_data": "user_models:color_clean_data", "first_round": 30,
                              "round_labels": 30, "label_budget": 90, "zero_label": "off",
                              "strategy_params": {"epochs": 3, "lr": 2e-3},
                              "trusted_architectures": ["user_models:ColorNet"]}),
                          Agent(name="planner", kind="planner")])
    app.root = tmp_path
    return app


def test_a_users_own_torch_cnn_on_colour_images_closes_the_loop(tmp_path, tracking_store):
    from scanflow.check import AutoencoderDetector
    from scanflow.models import InputSchema, as_model, log_model, register_architecture
    from scanflow.track import promote
    from user_models import ColorNet, color_shapes, color_train_data, train_color_net

    register_architecture(ColorNet)
    X, y = color_train_data()
    info = log_model(as_model(train_color_net(X, y), schema=InputSchema.from_data(X)),
                     registered_model_name="shapes")
    promote("shapes", info.version)
    app = _image_app(tmp_path, "shapes")
    AutoencoderDetector(epochs=8, random_state=0).fit(X).save(app.state_path / "detector.npz")
    loop = Loop(app)
    try:
        baseline = loop.served_version()
        seed = iter(range(100, 10_000))

        def batches():
            while True:
                Xs, ys = color_shapes(60, seed=next(seed), shifted=True)
                yield {"images_b64": [base64.b64encode(x.tobytes()).decode() for x in Xs]}, ys

        bad = loop.http.post("/predict/batch", json={"images": [[[0] * 28] * 28]})
        assert bad.status_code == 422 and "(32, 32, 3)" in bad.text
        _stream_until_promoted(loop, batches, baseline)
        _stream_until_settled(loop, batches)
        Xt, yt = color_shapes(300, seed=7, shifted=True)
        before = np.mean(as_model(train_color_net(X, y)).predict(Xt) == yt)
        body, _ = {"images_b64": [base64.b64encode(x.tobytes()).decode() for x in Xt]}, yt
        after = np.mean([p["label"] == t for p, t in zip(loop.send(body, yt)["predictions"], yt, strict=True)])
        assert after > before + 0.05
    finally:
        loop.close()


def test_a_model_registered_by_plain_mlflow_is_served_checked_and_improved(tmp_path, tracking_store):
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scanflow.app import Agent, Application, Service
    from scanflow.check import default_detector
    from scanflow.track import promote
    from user_models import recalibrate, wine

    X, y, Xt, yt = wine()
    plain = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    _, run_id = tracking_store
    with mlflow.start_run(run_id=run_id):  # code that knows nothing of Scanflow
        mlflow.sklearn.log_model(plain, name="m", signature=infer_signature(X, y),
                                 registered_model_name="plain")
    promote("plain", 1)
    app = Application(name="wine", state_dir=str(tmp_path / "state"), services=[
        Service(name="predict", command=["scanflow", "serve", "."],
                parameters={"model": "plain", "detector": "detector.npz", "drift_window": 60})],
        agents=[Agent(name="tracker", kind="tracker", talks_to=["checker"], config={"batch_size": 30}),
                Agent(name="checker", kind="checker", talks_to=["improver"], config={"detector": "detector.npz"}),
                Agent(name="improver", kind="improver", talks_to=["planner"], config={
                    "train_data": "train.csv", "first_round": 15, "round_labels": 15,
                    "label_budget": 45, "zero_label": "off"}),
                Agent(name="planner", kind="planner")])
    app.root = tmp_path
    X.assign(target=y).to_csv(tmp_path / "train.csv", index=False)
    default_detector(epochs=20).fit(X).save(app.state_path / "detector.npz")
    loop = Loop(app)
    try:
        checked = loop.send(_records(Xt.iloc[:10]), yt[:10])["predictions"]
        assert all(p["outlier"] is not None for p in checked)  # checked inline
        rng = np.random.default_rng(0)

        def batches():
            while True:
                idx = rng.choice(len(Xt), 30)
                yield _records(recalibrate(Xt.iloc[idx])), yt[idx]

        _stream_until_promoted(loop, batches, "1")
        assert loop.http.get("/model").json()["model"]["version"] != "1"
    finally:
        loop.close()
