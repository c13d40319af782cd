"""``scanflow serve --backend``: what is refused before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scanflow.cli import app as cli


@pytest.fixture
def plain(tmp_path):
    (tmp_path / "scanflow.yaml").write_text("name: plain\n")
    return str(tmp_path)


def _stderr(result) -> str:
    return " ".join(result.stderr.split())


def test_replicas_without_the_ray_backend_say_to_add_it(plain):
    result = CliRunner().invoke(cli, ["serve", plain, "--replicas", "2"])
    assert result.exit_code == 2 and "add --backend ray" in _stderr(result)


def test_an_unknown_backend_is_refused_naming_the_choices(plain):
    result = CliRunner().invoke(cli, ["serve", plain, "--backend", "k8s"])
    assert result.exit_code == 2 and "use local or ray" in _stderr(result)


def test_zero_replicas_are_refused(plain):
    result = CliRunner().invoke(cli, ["serve", plain, "--backend", "ray", "--replicas", "0"])
    assert result.exit_code == 2 and "--replicas" in _stderr(result)


def test_the_ray_backend_without_a_model_says_how_to_name_one_before_ray_starts(plain):
    pytest.importorskip("ray.serve")
    import ray

    result = CliRunner().invoke(cli, ["serve", plain, "--backend", "ray"])
    assert result.exit_code == 2 and "--model NAME" in _stderr(result)
    assert not ray.is_initialized()
