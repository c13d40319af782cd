"""The registry with aliases, promotion and rollback (models: tests/models)."""

from __future__ import annotations

import pytest
import torch

from scanflow.models import log_torch_model
from scanflow.track import get_alias_version, promote, register_model, rollback


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 2)


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
