"""``scanflow datasets`` on its own Typer app."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from scanflow.cli.datasets import app
from scanflow.datasets import CORRUPTIONS, corrupt, load_mnist

runner = CliRunner()


def test_list_names_every_corruption():
    r = runner.invoke(app, ["list", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["corruptions"] == list(CORRUPTIONS)
    r = runner.invoke(app, ["list"])
    assert "zigzag" in r.stdout and "mnist:test" in r.stdout


def test_corrupt_a_file_is_seeded_and_keeps_labels(tmp_path):
    X, y = load_mnist("test", limit=30)
    np.savez(tmp_path / "in.npz", X=X, y=y)
    r = runner.invoke(app, ["corrupt", "--corruption", "zigzag", "--input",
                            str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"),
                            "--seed", "4"])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "out.npz") as z:
        np.testing.assert_array_equal(z["X"], corrupt(X, "zigzag", seed=4))
        np.testing.assert_array_equal(z["y"], y)
        assert str(z["corruption"]) == "zigzag"


def test_corrupt_bundled_digits_to_npy(tmp_path):
    r = runner.invoke(app, ["corrupt", "-c", "fog", "-i", "mnist:test", "-o",
                            str(tmp_path / "fog.npy"), "--limit", "5"])
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "fog.npy").shape == (5, 28, 28)


def test_unknown_corruption_and_bad_file_exit_2(tmp_path):
    r = runner.invoke(app, ["corrupt", "-c", "snow", "-i", "x.npy", "-o", "y.npy"])
    assert r.exit_code == 2 and "unknown corruption" in r.output
    r = runner.invoke(app, ["corrupt", "-c", "fog", "-i", str(tmp_path / "missing.npy"),
                            "-o", str(tmp_path / "y.npy")])
    assert r.exit_code == 2 and "not found" in r.output
