"""Models without pickles, the registry with aliases, promotion and rollback."""

from __future__ import annotations

import json

import pytest
import torch

from scanflow.track import (
    get_alias_version,
    load_torch_model,
    log_torch_model,
    promote,
    register_model,
    rollback,
    set_alias,
)
from scanflow.track.models import CONFIG_FILE, save_torch_model


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 2)


def test_a_torch_model_is_a_state_dict_plus_a_json_architecture(tmp_path):
    folder = save_torch_model(_linear(), tmp_path / "m", init_kwargs={"in_features": 4, "out_features": 2})
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["class"] == "torch.nn.modules.linear:Linear"
    assert config["kwargs"] == {"in_features": 4, "out_features": 2}
    weights = torch.load(folder / "weights.pt", weights_only=True)  # loads without unpickling objects
    assert set(weights) == {"weight", "bias"}


def test_a_model_without_constructor_arguments_is_refused(tmp_path):
    with pytest.raises(ValueError, match="init_kwargs"):
        save_torch_model(_linear(), tmp_path / "m")


def test_logged_and_registered_torch_model_loads_back_by_alias(store):
    model = _linear()
    kwargs = {"in_features": 4, "out_features": 2}
    uri = log_torch_model(model, "model", registered_model_name="digits", init_kwargs=kwargs)
    assert uri.startswith("runs:/")
    assert get_alias_version("digits", "champion") is None
    set_alias("digits", "champion", 1)
    loaded = load_torch_model("digits", alias="champion")
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), model(x))
    assert torch.equal(load_torch_model(uri)(x), model(x))
    assert torch.equal(load_torch_model("models:/digits/1")(x), model(x))


def test_promote_remembers_the_previous_champion_and_rollback_steps_back(store):
    client, _ = store
    uri = log_torch_model(_linear(), "model", init_kwargs={"in_features": 4, "out_features": 2})
    versions = [register_model(uri, "clf") for _ in range(3)]
    assert versions == [1, 2, 3]
    assert promote("clf", 1) is None
    assert promote("clf", 2) == 1
    assert get_alias_version("clf", "previous-champion") == 1
    assert client.get_registered_model("clf").tags["scanflow.previous.champion"] == "1"
    assert promote("clf", 3) == 2
    assert rollback("clf") == 2
    assert (get_alias_version("clf", "champion"), get_alias_version("clf", "previous-champion")) == (2, 1)
    assert rollback("clf") == 1
    assert get_alias_version("clf", "champion") == 1 and get_alias_version("clf", "previous-champion") is None
    with pytest.raises(LookupError, match="no previous 'champion'"):
        rollback("clf")
    promote("clf", 3, alias="challenger")
    assert get_alias_version("clf", "challenger") == 3 and get_alias_version("clf", "champion") == 1


def test_sklearn_models_are_logged_with_skops_and_load_back(store):
    from sklearn.linear_model import LogisticRegression

    from scanflow.track import load_sklearn_model, log_sklearn_model

    client, run_id = store
    x = [[0.0], [1.0], [2.0], [3.0]]
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    log_sklearn_model(model, "clf", registered_model_name="tabular")
    loaded = load_sklearn_model("models:/tabular/1")
    assert loaded.predict([[0.1], [2.9]]).tolist() == [0, 1]
    assert client.get_run(run_id).info.status == "RUNNING"  # the node's run stays open for the scheduler
