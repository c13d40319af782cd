"""Feeding the loop without a prediction server: batch files dropped in the tracker's inbox are
predicted by the champion, logged, and checked like served traffic (each file once, even after
a restart)."""

from __future__ import annotations

import pytest

from scanflow.agents import AgentRuntime, EpisodeStore
from scanflow.app import Agent, Application

pytest.importorskip("sklearn")


def test_batch_files_in_the_inbox_are_predicted_logged_and_checked_once(tmp_path, tracking_store):
    from scanflow.check import get_detector
    from scanflow.models import InputSchema, as_model, log_model
    from scanflow.track import promote
    from user_models import recalibrate, wine, wine_pipeline

    X, y, Xt, yt = wine()
    info = log_model(as_model(wine_pipeline(X, y), schema=InputSchema.from_data(X)),
                     registered_model_name="wine")
    promote("wine", info.version)
    app = Application(name="wine", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker"],
              config={"inbox": "incoming", "model": "wine", "batch_size": 30}),
        Agent(name="checker", kind="checker", config={"detector": get_detector("ks").fit(X)}),
    ])
    app.root = tmp_path
    (tmp_path / "incoming").mkdir()
    Xt.iloc[:30].to_csv(tmp_path / "incoming" / "monday.csv", index=False)
    recalibrate(Xt.iloc[:30]).to_csv(tmp_path / "incoming" / "tuesday.csv", index=False)

    rt = AgentRuntime(app, poll_interval=0.05)
    for _ in range(4):
        rt.run_once()
    rows = rt.services.predictions.predictions_since(0)
    assert len(rows) == 60 and {r.service for r in rows} == {"inbox:monday.csv", "inbox:tuesday.csv"}
    assert {str(r.model_version) for r in rows} == {str(info.version)}
    assert rt.services.predictions.prediction_inputs([rows[0].id]).columns.tolist() == list(X.columns)
    assert [h["decision"] for h in rt.history("tracker") if h["rule"] == "ingest"] == ["ingest"] * 2
    assert [h["decision"] for h in rt.history("checker")] == ["normal", "alert"]
    assert len(EpisodeStore(rt.store).list()) == 1

    again = AgentRuntime(app, poll_interval=0.05)  # a restart ingests nothing twice
    again.run_once()
    assert len(again.services.predictions.predictions_since(0)) == 60
