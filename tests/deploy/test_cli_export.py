import yaml
from typer.testing import CliRunner

from scanflow.cli.export import app as export_app

runner = CliRunner()


def test_export_compose_writes_the_file_and_dockerfiles(app_dir, tmp_path):
    out = tmp_path / "compose"
    result = runner.invoke(export_app, ["compose", str(app_dir), "-o", str(out), "--tag", "v1"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((out / "docker-compose.yaml").read_text())
    assert doc["services"]["api"]["image"] == "shop-ml-api:v1"
    assert (out / "dockerfiles" / "api.Dockerfile").is_file()


def test_export_kubernetes_and_swarm_and_dockerfiles(app_dir, tmp_path):
    result = runner.invoke(export_app, ["kubernetes", str(app_dir), "-o", str(tmp_path / "k"), "--namespace", "prod"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "k" / "workflows" / "training.yaml").is_file()
    assert yaml.safe_load((tmp_path / "k" / "namespace.yaml").read_text())["metadata"]["name"] == "prod"
    result = runner.invoke(export_app, ["swarm", str(app_dir), "-o", str(tmp_path / "s")])
    assert result.exit_code == 0 and (tmp_path / "s" / "stack.yaml").is_file()
    result = runner.invoke(export_app, ["dockerfiles", str(app_dir), "-o", str(tmp_path / "d"),
                                        "--base-image", "python:3.12.7-slim-bookworm"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "training-load.Dockerfile").read_text().count("FROM python:3.12.7-slim-bookworm") == 1


def test_export_reports_a_bad_application_and_a_name_clash(tmp_path):
    result = runner.invoke(export_app, ["compose", str(tmp_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no application" in result.stderr  # a folder without one
    (tmp_path / "scanflow.yaml").write_text(
        "name: x\nworkflows:\n  - name: w\n    nodes:\n      - {name: a, module: m}\n"
        "services:\n  - {name: w-a, module: m}\n")
    result = runner.invoke(export_app, ["compose", str(tmp_path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "would both be deployed as 'w-a'" in result.output
