"""The MNIST-C experiment end to end on a tiny grid, its report, and the experiment CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scanflow.improve.experiment import ExperimentConfig, make_seed_data, run_experiment
from scanflow.improve.report import write_report

TINY = dict(
    seeds=[0],
    budgets=[15],
    selections=["reconstruction", "random"],
    strategies=["retrain"],
    pool_size=300,
    eval_size=300,
    clean_size=150,
    base_epochs=1,
    detector_epochs=2,
    best_budget=100,
    strategy_params={"retrain": {"epochs": 1, "replay": 500}},
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    state = tmp_path_factory.mktemp("exp") / "state"
    return run_experiment(ExperimentConfig(**TINY), state), state


def test_pool_and_evaluation_data_are_disjoint():
    from scanflow.datasets import load_mnist

    data = make_seed_data(ExperimentConfig(**TINY), 0)
    Xt, _ = load_mnist("test")
    flat = {x.tobytes(): i for i, x in enumerate(Xt)}
    pool = {flat[x.tobytes()] for x in data.X_pool_clean}
    clean_eval = {flat[x.tobytes()] for x in data.slices["clean"][0]}
    assert pool and clean_eval and not pool & clean_eval
    assert len(data.X_pool) == 300 and len(data.slices["drifted"][0]) == 300
    assert (data.pool_corruption != "none").all()


def test_experiment_reports_the_required_fields_with_the_oracle_named(tiny_run):
    results, _ = tiny_run
    for key in (
        "base_clean_accuracy",
        "base_corrupted_accuracy",
        "improved_clean_accuracy",
        "improved_corrupted_accuracy",
        "labels_used",
        "selection",
        "strategy",
        "labeler",
    ):
        assert key in results, key
    assert results["labeler"] == "oracle"
    assert results["base_corrupted_accuracy"] < results["base_clean_accuracy"]
    assert results["labels_used"] <= 15
    assert {(e["selection"], e["budget"]) for e in results["grid"]} == {
        ("reconstruction", 15),
        ("random", 15),
    }


def test_experiment_clean_stream_promotes_nothing(tiny_run):
    results, _ = tiny_run
    assert results["clean_stream_promoted"] is False
    assert all(c["labels_used"] == 0 for c in results["clean_stream"])


def test_experiment_registers_the_candidate_and_the_gate_moves_the_champion(tiny_run):
    from scanflow.track import get_alias_version, get_client

    results, _ = tiny_run
    reg = results["registry"]
    client = get_client(reg["tracking_uri"])
    assert reg["champion_before"] == 1 and reg["candidate_version"] == 2
    expected = 2 if reg["promoted"] else 1
    assert get_alias_version(reg["model"], "champion", client=client) == expected


def test_experiment_caches_the_base_model_and_detector_per_seed(tiny_run):
    _, state = tiny_run
    names = sorted(p.name.split("-")[0] for p in (state / "cache").iterdir())
    assert "base" in names and "detector" in names


def test_report_writes_html_markdown_plots_and_results_json(tiny_run, tmp_path):
    results, _ = tiny_run
    paths = write_report(results, tmp_path)
    saved = json.loads(paths["results"].read_text())
    assert saved["labeler"] == "oracle" and saved["selection"] in ("reconstruction", "random")
    md = paths["markdown"].read_text()
    assert "oracle" in md and "| retrain | random |" in md and "accuracy_vs_labels.png" in md
    html = paths["html"].read_text()
    assert "<table>" in html and "oracle" in html
    assert (tmp_path / "accuracy_vs_labels.png").stat().st_size > 1000
    assert (tmp_path / "per_corruption.png").stat().st_size > 1000


def test_config_validation_names_the_bad_field():
    with pytest.raises(ValueError, match="selections"):
        ExperimentConfig(selections=["nope"]).validate()
    with pytest.raises(ValueError, match="pool_size"):
        ExperimentConfig(pool_size=4000, eval_size=2000).validate()


def test_store_labeler_waits_for_human_labels(tmp_path):
    """--human: samples go to the label store and the run waits until people answer."""
    import threading
    import time

    from scanflow.improve.labelers import StoreLabeler
    from scanflow.improve.labels import LabelStore

    store = LabelStore(tmp_path / "labels.db")
    X = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28)
    labeler = StoreLabeler(store, X, poll=0.05, timeout=30)

    def human():
        while not store.batches():
            time.sleep(0.02)
        for _ in range(3):
            item = store.claim("ana")[0]
            if item.meta["index"] == 4:
                store.skip(item.id, "ana")
            else:
                store.submit(item.id, item.meta["index"] + 1, "ana")

    t = threading.Thread(target=human)
    t.start()
    labels = labeler.label([3, 0, 4])
    t.join()
    assert labels.tolist() == [4, 1, -1]
    assert store.progress()["human"] == 2


def test_an_interrupted_grid_resumes_from_its_journal(tiny_run):
    results, state = tiny_run
    journals = list(state.glob("rows-*.jsonl"))
    assert len(journals) == 1 and len(journals[0].read_text().splitlines()) == 2
    again = run_experiment(ExperimentConfig(**TINY), state, register=False)
    assert again["rows"] == results["rows"]


def test_the_quick_config_still_runs_every_stage_on_less_data():
    cfg = ExperimentConfig.quick_config()
    cfg.validate()
    full = ExperimentConfig()
    assert {"reconstruction", "random"} <= set(cfg.selections)  # detector-led and baseline
    assert {"retrain", "denoiser"} <= set(cfg.strategies)
    assert cfg.budgets and max(cfg.budgets) <= cfg.best_budget  # a candidate is registered
    assert cfg.train_size < 6000 and cfg.pool_size < full.pool_size
    assert cfg.threads == 1


def test_train_size_keeps_the_first_training_digits():
    data = make_seed_data(ExperimentConfig(**{**TINY, "train_size": 500}), 0)
    assert len(data.X_train) == len(data.y_train) == 500
    with pytest.raises(ValueError, match="train_size"):
        ExperimentConfig(train_size=10).validate()
