"""The dashboard over a scikit-learn pipeline on a table, served by the real ``ServeStack``:
the model section names the flavor and the input, the drift plot shades each drift episode."""

import pytest
from fastapi.testclient import TestClient
from serve_helpers import application

from user_models import recalibrate, wine, wine_pipeline


@pytest.fixture(scope="module")
def data():
    return wine()


@pytest.fixture(scope="module")
def version(registry, data):
    from scanflow.models import InputSchema, as_model

    model = as_model(wine_pipeline(data[0], data[1]), schema=InputSchema.from_data(data[0]))
    version = registry.log(model, "wine")
    registry.promote("wine", version)
    return version


@pytest.fixture(scope="module")
def detector_file(data, tmp_path_factory):
    from scanflow.check import PCADetector

    return PCADetector().fit(data[0]).save(tmp_path_factory.mktemp("detector") / "wine.npz")


@pytest.fixture
def stack(tracker, version, detector_file, tmp_path):
    from scanflow.serve.stack import ServeStack

    app = application(tmp_path, tracker, model="wine", detector=str(detector_file), drift_window=30)
    return ServeStack(app, poll_interval=0)


def _serve(client, stack, X) -> None:
    r = client.post("/predict/batch", json={"records": X.to_dict("records")})
    assert r.status_code == 200, r.text
    stack.prediction.drift.flush()


def test_the_model_section_says_sklearn_and_a_table_of_13_columns(stack):
    with TestClient(stack.api) as client:
        d = client.get("/dashboard/api/status").json()
    assert d["served_model"]["flavor"] == "sklearn"
    assert d["served_model"]["input"] == "table of 13 columns"
    assert "alcohol" in d["served_model"]["columns"]
    assert "sklearn</span> &middot; table of 13 columns" in d["html"]["model"]


def test_the_drift_plot_shades_an_episode_from_opening_to_resolution(stack, data):
    from scanflow.agents.episodes import RESOLVED, SETTLING, EpisodeStore

    X = data[2]
    episodes = EpisodeStore(stack.state)
    with TestClient(stack.api) as client:
        _serve(client, stack, X.iloc[:30])                       # window [0, 30): clean
        episode = episodes.open_or_join("wine", [1, 2, 3], key="alarm-1")
        _serve(client, stack, recalibrate(X.iloc[30:60]))        # window [30, 60): shifted
        open_span = client.get("/dashboard/api/status").json()["drift_episodes"]
        episodes.set_status(episode.id, SETTLING, key="settle-1")
        episodes.set_status(episode.id, RESOLVED, key="resolve-1")
        _serve(client, stack, X.iloc[:30])                       # window [60, 90): clean again
        d = client.get("/dashboard/api/status").json()
        svg = client.get("/dashboard/plots/drift.svg").text
    # while open, the episode runs to the end of the stream seen so far
    assert open_span == [{"label": f"episode {episode.id}", "start": pytest.approx(open_span[0]["start"]),
                          "end": 60.0, "settled": None, "status": "open"}]
    (span,) = d["drift_episodes"]
    assert 30 <= span["start"] <= 60 <= span["settled"] <= span["end"] <= 90
    assert span["status"] == "resolved" and d["drift"]["windows"] == 3
    assert f"episode {episode.id}" in svg and "settled" in svg and "drift episodes" in svg
