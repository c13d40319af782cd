"""``scanflow check`` on a Typer app of its own (the lead wires it into the root CLI)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scanflow.cli.check import check
from scanflow.datasets import corrupt

app = typer.Typer()
app.command()(check)
app.command("version")(lambda: None)  # two commands: keeps "check" as a subcommand name
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, mnist_small):
    d = tmp_path_factory.mktemp("cli")
    X_ref, X_new = mnist_small
    np.save(d / "ref.npy", X_ref)
    np.save(d / "clean.npy", X_new[:100])
    np.savez(d / "fog.npz", X=corrupt(X_new[:100], "fog"), y=np.zeros(100, int))
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=500), "colour": rng.choice(["r", "b"], 500)}).to_csv(
        d / "ref.csv", index=False)
    pd.DataFrame({"a": rng.normal(size=100), "colour": ["r", "b", "k", "b"] * 25}).to_csv(
        d / "new.csv", index=False)
    return d


def test_json_output_is_the_result_schema(files):
    r = runner.invoke(app, ["check", "--reference", str(files / "ref.npy"), "--data",
                            str(files / "fog.npz"), "--detector", "ks", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["detector"] == "ks" and out["is_drift"] is True and out["p_value"] < 0.05


def test_table_report_and_saved_detector(files, tmp_path):
    report = tmp_path / "out.html"
    saved = tmp_path / "ae.npz"
    r = runner.invoke(app, ["check", "-r", str(files / "ref.npy"), "-d", str(files / "fog.npz"),
                            "--detector", "ae", "-p", "epochs=1", "-p", "min_steps=150",
                            "-p", "max_restarts=0", "--report", str(report),
                            "--save", str(saved)])
    assert r.exit_code == 0, r.output
    assert "DRIFT" in r.output and "flagged samples" in r.output
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 2  # histogram + worst images
    r2 = runner.invoke(app, ["check", "--load", str(saved), "-d", str(files / "clean.npy"),
                             "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["detector"] == "ae"


def test_integrity_on_csv_reports_the_unseen_category(files):
    r = runner.invoke(app, ["check", "-r", str(files / "ref.csv"), "-d", str(files / "new.csv"),
                            "--detector", "integrity", "--json", "--fail-on-drift"])
    assert r.exit_code == 1
    issues = json.loads(r.stdout)["metadata"]["issues"]
    assert issues[0]["check"] == "unseen_categories" and issues[0]["categories"] == ["k"]


def test_errors_are_clear_and_exit_2(files):
    r = runner.invoke(app, ["check", "-r", str(files / "ref.npy"), "-d", str(files / "fog.npz"),
                            "--detector", "nope"])
    assert r.exit_code == 2 and "unknown detector" in r.output
    r = runner.invoke(app, ["check", "-r", str(files / "ref.csv"), "-d", str(files / "new.csv"),
                            "--detector", "ks"])
    assert r.exit_code == 2 and "not numeric" in r.output
    r = runner.invoke(app, ["check", "-d", str(files / "new.csv")])
    assert r.exit_code == 2 and "--reference" in r.output


def test_track_logs_a_run(files, tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    r = runner.invoke(app, ["check", "-r", str(files / "ref.npy"), "-d", str(files / "fog.npz"),
                            "--detector", "ks", "--tracking-uri", uri])
    assert r.exit_code == 0, r.output
    assert "MLflow run:" in r.output
