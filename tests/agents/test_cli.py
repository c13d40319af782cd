"""``scanflow agents list|run|trigger|pause|resume|history|approvals|approve`` on an app folder."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from scanflow.agents import StateStore, default_state_url
from scanflow.app import load_app
from scanflow.cli import agents as agents_module
from scanflow.cli.agents import app as agents_cli

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    # _width, not width: undoing the width setter would pin the shared console at its old width
    monkeypatch.setattr(agents_module.console, "_width", 250)
    # Each test's app folder has its own `effects` module: forget the previous one.
    monkeypatch.delitem(sys.modules, "effects", raising=False)

APP = """\
name: clidemo
agents:
  - name: watcher
    talks_to: [worker]
    sensors:
      - {name: predictions, type: predictions, count: 5}
      - {name: nightly, type: cron, cron: "0 2 * * *"}
    rules:
      - {name: busy, when: sensor.predictions, if: "count >= 1", decision: tell, then: [tell]}
    actuators:
      - {name: tell, type: message, to: worker, kind: work, payload: {n: 1}}
  - name: worker
    rules:
      - {name: do, when: work, if: "n == 1", decision: work, then: [do]}
    actuators:
      - {name: do, type: callable, callable: "effects:write"}
"""

EFFECTS = """\
from pathlib import Path

def write(params, key, ctx):
    with open(Path(__file__).parent / "effects.txt", "a") as f:
        f.write(key + "\\n")
    return {"written": key}
"""


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "scanflow.yaml").write_text(APP)
    (tmp_path / "effects.py").write_text(textwrap.dedent(EFFECTS))
    return tmp_path


def invoke(*args):
    result = runner.invoke(agents_cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_sensors_with_their_schedules(app_dir):
    out = invoke("list", app_dir)
    assert "watcher" in out and "worker" in out
    assert "every 5 new predictions" in out and "cron '0 2 * * *'" in out
    rows = json.loads(invoke("list", app_dir, "--json"))
    assert [r["name"] for r in rows] == ["watcher", "worker"]
    assert rows[0]["sensors"][1]["schedule"] == "cron '0 2 * * *' (UTC)"


def test_trigger_without_a_running_runtime_runs_the_agents_here(app_dir):
    StateStore(default_state_url(load_app(app_dir))).record_predictions("api", None, [1, 2])
    out = invoke("trigger", app_dir, "watcher", "predictions")
    assert "no running agents: ran them here" in out
    assert "count=2 >= 1 -> tell" in out and "n=1 == 1 -> work" in out
    assert len((app_dir / "effects.txt").read_text().split()) == 1
    hist = json.loads(invoke("history", app_dir, "--json", "--agent", "worker"))
    assert [(h["decision"], h["actions"][0]["status"]) for h in hist] == [("work", "done")]


def test_pause_and_resume(app_dir):
    StateStore(default_state_url(load_app(app_dir))).record_predictions("api", None, [1])
    assert "agent worker paused" in invoke("pause", app_dir, "worker")
    assert "paused" in invoke("list", app_dir)
    out = invoke("trigger", app_dir, "watcher")
    assert not (app_dir / "effects.txt").exists()
    assert "resumed" in invoke("resume", app_dir, "worker")
    invoke("run", app_dir, "--until-idle")
    assert (app_dir / "effects.txt").read_text().count("\n") == 1
    assert "tell" in out


def test_approvals_are_listed_and_answered(app_dir):
    store = StateStore(default_state_url(load_app(app_dir)))
    req = store.request_approval("k1", "worker", {"action": "promote", "version": 2}, "gate passed")
    assert "gate passed" in invoke("approvals", app_dir)
    assert f"approval #{req.id} approved" in invoke("approve", app_dir, req.id, "--by", "ana")
    assert "nothing waits for approval" in invoke("approvals", app_dir)
    again = runner.invoke(agents_cli, ["reject", str(app_dir), str(req.id)])
    assert again.exit_code == 2 and "already approved by ana" in again.output


def test_unknown_agent_is_an_error_naming_the_known_ones(app_dir):
    result = runner.invoke(agents_cli, ["pause", str(app_dir), "nobody"])
    assert result.exit_code == 2 and "agents: watcher, worker" in result.output


ASK = """\
import numpy as np

def ask(params, key, ctx):
    return {"ids": ctx.services.labels.enqueue(np.zeros((2, 3)), batch=key)}
"""


def test_run_asks_people_through_the_label_store_of_labels_url(app_dir, tmp_path):
    from scanflow.improve.labels import LabelStore

    (app_dir / "effects.py").write_text(ASK)
    (app_dir / "scanflow.yaml").write_text(APP.replace("effects:write", "effects:ask"))
    StateStore(default_state_url(load_app(app_dir))).record_predictions("api", None, [1, 2, 3, 4, 5])
    shared = tmp_path / "shared-labels.db"  # e.g. a PostgreSQL URL in production
    invoke("run", app_dir, "--until-idle", "--labels-url", f"sqlite:///{shared}")
    with LabelStore(f"sqlite:///{shared}") as store:
        assert [item.status for item in store.items_of()] == ["pending", "pending"]
    assert not (app_dir / ".scanflow" / "labels.db").exists()
