"""One vocabulary: where state lives, which label store, what --detector means in serve."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import scanflow
from scanflow.cli import app as cli
from scanflow.cli.common import load_application
from scanflow.cli.label import _default_url

DEMO_APP = Path(scanflow.__file__).parent / "demo" / "app"


def test_the_packaged_demo_app_uses_the_state_scanflow_demo_keeps(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_application(str(DEMO_APP)).state_path == tmp_path / ".scanflow" / "demo"
    given = load_application(str(DEMO_APP), state_dir=tmp_path / "elsewhere")
    assert given.state_path == tmp_path / "elsewhere"
    monkeypatch.setenv("SCANFLOW_HOME", str(tmp_path / "home"))
    assert load_application(str(DEMO_APP)).state_path == tmp_path / "home"


def test_any_other_application_keeps_its_state_next_to_its_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_HOME", raising=False)
    (tmp_path / "scanflow.yaml").write_text("name: plain\n")
    assert load_application(str(tmp_path)).state_path == tmp_path / ".scanflow"


def test_scanflow_label_and_the_served_app_share_one_label_store(tmp_path, monkeypatch):
    from scanflow.agents.services import label_store_url

    monkeypatch.delenv("SCANFLOW_HOME", raising=False)
    (tmp_path / "scanflow.yaml").write_text("name: plain\n")
    application = load_application(str(tmp_path))
    served = label_store_url(application, None).removeprefix("sqlite:///")
    monkeypatch.chdir(tmp_path)
    assert Path(_default_url(None)).resolve() == Path(served).resolve()
    assert Path(_default_url(str(tmp_path))).resolve() == Path(served).resolve()


def test_serve_refuses_a_detector_name_and_says_how_to_fit_a_file(tmp_path):
    (tmp_path / "scanflow.yaml").write_text("name: plain\n")
    result = CliRunner().invoke(cli, ["serve", str(tmp_path), "--detector", "ks"])
    assert result.exit_code == 2
    assert "--detector ks --save detector.npz" in " ".join(result.stderr.split())
