"""One real `scanflow demo --quick`: train, serve, stream, agents detect drift, label, improve,
gate, promote — and the numbers in summary.json come from what happened."""

import json

import pytest
import typer
from typer.testing import CliRunner

from scanflow.cli.demo import register

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-out")
    state = tmp_path_factory.mktemp("demo-state")
    cli = typer.Typer()
    register(cli)
    cli.command("noop", hidden=True)(lambda: None)  # keep `demo` a sub-command
    result = CliRunner().invoke(cli, ["demo", "--quick", "--output", str(out), "--state-dir", str(state)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output, json.loads((out / "summary.json").read_text()), out


def test_the_agents_promote_a_model_that_is_better_on_the_corrupted_stream(demo_run):
    _, s, _ = demo_run
    assert s["promoted"] is True
    assert s["champion_version"] != s["baseline_version"]
    assert s["accuracy_after_samples"] > 0 and s["accuracy_before_samples"] > 0
    assert s["accuracy_after"] > s["accuracy_before"] + 0.2


def test_summary_has_the_required_fields(demo_run):
    _, s, _ = demo_run
    for key in ("accuracy_before", "accuracy_after", "drift_detected_at", "labels_used", "promoted",
                "decisions"):
        assert key in s
    # the drift was detected after it began, from the stream the API answered
    assert s["drift_onset_sample"] <= s["drift_detected_at"] < s["samples_streamed"]
    assert 0 < s["labels_used"] <= s["labels"]["labeled"] and s["labels"]["oracle"] > 0


def test_every_agent_decision_comes_with_its_reason(demo_run):
    _, s, _ = demo_run
    kinds = {(d["agent"], d["decision"]) for d in s["decisions"]}
    assert {("checker", "alert"), ("improver", "improve"), ("planner", "promote")} <= kinds
    assert all(d["reason"] for d in s["decisions"])
    promote = next(d for d in s["decisions"] if d["decision"] == "promote")
    assert "accuracy" in promote["reason"]


def test_the_run_prints_progress_urls_a_table_and_writes_a_report(demo_run):
    output, s, out = demo_run
    assert "/dashboard" in output and "mlflow ui --backend-store-uri" in output
    assert "accuracy on corrupted digits" in output
    report = (out / "report.md").read_text()
    assert "What each agent decided" in report and "<svg" in (out / "drift.svg").read_text()
