"""``scanflow init | validate | run | runs | wipe`` end to end, through the real Typer app."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scanflow.cli import app as cli

runner = CliRunner()


def _with_store(folder: Path, template: Path) -> None:
    (folder / ".scanflow").mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / ".scanflow" / "mlflow.db")


def _invoke(*args: str):
    return runner.invoke(cli, [str(a) for a in args], env={"COLUMNS": "200"})


def test_init_validate_run_cache_runs_show_and_wipe(tmp_path, mlflow_db_template, monkeypatch):
    folder = tmp_path / "starter"
    result = _invoke("init", folder)
    assert result.exit_code == 0, result.output
    assert (folder / "scanflow.yaml").is_file() and (folder / "fit.py").is_file()
    _with_store(folder, mlflow_db_template)

    result = _invoke("validate", folder)
    assert result.exit_code == 0 and "application starter is valid" in result.output

    first = _invoke("run", folder)
    assert first.exit_code == 0, first.output
    run_id = re.search(r"run ([0-9a-f]{32}) succeeded", first.output).group(1)
    assert "main/evaluation/score succeeded" in first.output
    assert "mlflow ui --backend-store-uri sqlite:///" in first.output

    second = _invoke("run", folder)
    assert second.exit_code == 0 and "(4 cached)" in second.output

    listing = _invoke("runs", folder)
    assert listing.exit_code == 0 and run_id in listing.output and "4 cached" in listing.output

    show = _invoke("runs", "show", run_id[:10], folder)
    assert show.exit_code == 0, show.output
    assert run_id in show.output and "main/fit" in show.output and "succeeded" in show.output
    assert _invoke("runs", "show", run_id[:10], "--app", folder).exit_code == 0  # the old spelling

    monkeypatch.chdir(tmp_path)  # above the application, as from a repository's root
    found = _invoke("runs", "show", run_id[:10])
    assert found.exit_code == 0 and run_id in found.output and "main/fit" in found.output

    refused = _invoke("wipe", folder)
    assert refused.exit_code == 2 and "--yes" in refused.output and (folder / ".scanflow").exists()
    wiped = _invoke("wipe", folder, "--yes")
    assert wiped.exit_code == 0 and not (folder / ".scanflow").exists()
    assert (folder / "scanflow.yaml").exists()  # the application itself is kept


def test_a_failed_run_prints_the_exact_resume_command_and_resume_finishes_it(tmp_path, mlflow_db_template):
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "scanflow.yaml").write_text(textwrap.dedent("""
        name: fragile
        workflows:
          - name: main
            nodes:
              - {name: first, script: ok.py}
              - {name: second, script: gate.py, depends_on: [first]}
    """))
    (folder / "ok.py").write_text("print('ok')\n")
    (folder / "gate.py").write_text("import os, sys\nif not os.path.exists(os.path.join(os.environ['SCANFLOW_APP_DIR'], 'fixed')):\n    sys.exit('not fixed yet')\n")
    _with_store(folder, mlflow_db_template)

    failed = _invoke("run", folder, "--max-parallel", "1")
    assert failed.exit_code == 1
    run_id = re.search(r"run ([0-9a-f]{32}) failed", failed.output).group(1)
    assert f"Resume with: scanflow run {folder} --resume {run_id}" in failed.output
    assert "not fixed yet" in failed.output  # the tail of the failing node's stderr

    (folder / "fixed").touch()
    resumed = _invoke("run", folder, "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert "main/first reused" in resumed.output and "main/second succeeded" in resumed.output
    assert f"run {run_id} succeeded" in resumed.output


def test_validate_prints_every_problem_one_a_line(tmp_path):
    (tmp_path / "scanflow.yaml").write_text(textwrap.dedent("""
        name: broken
        workflows:
          - name: main
            nodes:
              - {name: a, script: missing.py, depend_on: [b]}
    """))
    result = _invoke("validate", tmp_path)
    assert result.exit_code == 1
    assert "1 problem in" in result.output
    assert "unknown key 'depend_on' (did you mean 'depends_on'?)" in result.output


def test_errors_name_what_is_wrong(tmp_path):
    missing = _invoke("validate", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "scanflow.yaml").write_text("name: x\nworkflows:\n  - name: main\n    nodes: [{name: a, callable: 'm:f'}]\n")
    unknown = _invoke("run", tmp_path, "--workflow", "nope", "--no-track")
    assert unknown.exit_code == 2 and "has no workflow 'nope'" in unknown.output
    no_run = _invoke("runs", "show", "abc", tmp_path)
    assert no_run.exit_code == 2 and "no run 'abc'" in no_run.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file").write_text("x")
    assert _invoke("init", tmp_path / "other").exit_code == 2


def test_resume_without_backend_options_uses_the_backend_and_cluster_the_run_used(tmp_path):
    from scanflow.cli.run import backend_of
    from scanflow.run import RunState

    ray_run = RunState.create(tmp_path, "a" * 32, backend="ray", backend_address="127.0.0.1:6379")
    local_run = RunState.create(tmp_path, "b" * 32, backend="local", backend_address=None)
    assert backend_of(tmp_path, None, None, ray_run.run_id) == ("ray", "127.0.0.1:6379")
    assert backend_of(tmp_path, None, "ray://10.0.0.1:10001", "aaaa") == ("ray", "ray://10.0.0.1:10001")
    assert backend_of(tmp_path, "local", None, ray_run.run_id) == ("local", None)  # as asked
    assert backend_of(tmp_path, None, None, local_run.run_id) == ("local", None)
    assert backend_of(tmp_path, None, None, None) == ("local", None)  # a new run: local by default
    with pytest.raises(typer.Exit):
        backend_of(tmp_path, None, "127.0.0.1:6379", local_run.run_id)  # --address for a local run
