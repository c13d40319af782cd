"""``scanflow models list|promote|rollback`` and ``scanflow experiment`` argument checks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scanflow.cli.experiment import app as experiment_app
from scanflow.cli.models import app as models_app

runner = CliRunner()


@pytest.fixture()
def registry(tmp_path, monkeypatch, base_cnn):
    """A real SQLite MLflow store with versions 1 (champion) and 2 of model ``digits``."""
    from scanflow.improve.gate import register_candidate
    from scanflow.track import get_client, promote

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = get_client(uri)
    exp = client.create_experiment("cli", artifact_location=(tmp_path / "art").as_uri())
    rid = client.create_run(exp).info.run_id
    promote("digits", register_candidate(base_cnn, "digits", run_id=rid), client=client)
    register_candidate(base_cnn, "digits", run_id=rid)
    return uri


def _aliases(uri):
    out = runner.invoke(models_app, ["list", "--tracking-uri", uri, "--json"])
    assert out.exit_code == 0, out.output
    return {m["name"]: m["aliases"] for m in json.loads(out.output)}


def test_list_shows_models_and_aliases(registry):
    assert _aliases(registry) == {"digits": {"champion": 1}}
    out = runner.invoke(models_app, ["list", "digits", "--tracking-uri", registry])
    assert out.exit_code == 0 and "champion" in out.output


def test_promote_then_rollback_moves_the_champion_back_and_forth(registry):
    out = runner.invoke(models_app, ["promote", "digits", "2", "--tracking-uri", registry])
    assert out.exit_code == 0, out.output
    assert "was v1" in out.output
    assert _aliases(registry)["digits"]["champion"] == 2
    out = runner.invoke(models_app, ["rollback", "digits", "--tracking-uri", registry])
    assert out.exit_code == 0, out.output
    assert _aliases(registry)["digits"]["champion"] == 1


def test_rollback_without_history_says_what_to_do(registry):
    out = runner.invoke(models_app, ["rollback", "digits", "--tracking-uri", registry])
    assert out.exit_code == 2 and "promote a version first" in out.output


def test_unknown_model_and_version_are_named(registry):
    out = runner.invoke(models_app, ["promote", "nope", "1", "--tracking-uri", registry])
    assert out.exit_code == 2 and "digits" in out.output
    out = runner.invoke(models_app, ["promote", "digits", "9", "--tracking-uri", registry])
    assert out.exit_code == 2 and "versions: [1, 2]" in out.output


def test_experiment_refuses_an_unknown_selection():
    out = runner.invoke(experiment_app, ["mnist-c", "--quick", "--selections", "psychic"])
    assert out.exit_code != 0 and "selections" in out.output
