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


@pytest.fixture(scope="module")
def wine_files(tmp_path_factory):
    from sklearn.datasets import load_wine

    d = tmp_path_factory.mktemp("wine")
    wine = load_wine(as_frame=True).data
    perm = np.random.default_rng(1).permutation(len(wine))
    ref, batch = wine.iloc[perm[:124]], wine.iloc[perm[124:]]
    ref.to_csv(d / "ref.csv", index=False)
    batch[list(batch.columns[::-1])].to_csv(d / "reordered.csv", index=False)
    batch.assign(proline=batch.proline + 2 * ref.proline.std()).to_csv(d / "shifted.csv",
                                                                        index=False)
    batch.drop(columns=["hue"]).to_csv(d / "no_hue.csv", index=False)
    return d


@pytest.mark.parametrize(("detector", "column"), [("ks", "KS statistic"), ("psi", "PSI")])
def test_table_data_prints_the_most_drifted_features(wine_files, detector, column):
    r = runner.invoke(app, ["check", "-r", str(wine_files / "ref.csv"), "-d",
                            str(wine_files / "shifted.csv"), "--detector", detector,
                            "--top-features", "3"])
    assert r.exit_code == 0, r.output
    features = r.output[r.output.index("most drifted features"):]
    assert column in features and "top 3 of 13" in features
    rows = [line for line in features.splitlines() if "│" in line]
    assert len(rows) == 3 and "proline" in rows[0]
    assert ("p-value" in features) == (detector == "ks")


def test_reordered_csv_columns_are_no_drift_and_json_keeps_its_shape(wine_files):
    r = runner.invoke(app, ["check", "-r", str(wine_files / "ref.csv"), "-d",
                            str(wine_files / "reordered.csv"), "--detector", "ks", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["is_drift"] is False and out["metadata"]["feature_names"][0] == "alcohol"
    assert set(out) == {"detector", "is_drift", "score", "threshold", "p_value", "n_samples",
                        "is_outlier", "instance_scores", "instance_threshold", "metadata"}


def test_a_missing_csv_column_is_named_and_exits_2(wine_files):
    r = runner.invoke(app, ["check", "-r", str(wine_files / "ref.csv"), "-d",
                            str(wine_files / "no_hue.csv"), "--detector", "psi"])
    assert r.exit_code == 2 and "missing columns ['hue']" in r.output


def test_top_features_zero_hides_the_feature_table(wine_files):
    r = runner.invoke(app, ["check", "-r", str(wine_files / "ref.csv"), "-d",
                            str(wine_files / "shifted.csv"), "--detector", "ks",
                            "--top-features", "0"])
    assert r.exit_code == 0 and "most drifted features" not in r.output
