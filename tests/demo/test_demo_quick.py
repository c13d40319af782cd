"""Real `scanflow demo --quick` runs: train, serve, stream clean data then shifts, let the agents
detect, ask for a few labels, improve, gate, promote and settle — and the numbers in
summary.json come from what happened."""

import json

import pytest
import typer
from typer.testing import CliRunner

from scanflow.cli.demo import register

pytestmark = pytest.mark.slow


def _run(tmp_path_factory, *args):
    out = tmp_path_factory.mktemp("demo-out")
    state = tmp_path_factory.mktemp("demo-state")
    cli = typer.Typer()
    register(cli)
    cli.command("noop", hidden=True)(lambda: None)  # keep `demo` a sub-command
    result = CliRunner().invoke(cli, ["demo", "--quick", "--output", str(out), "--state-dir", str(state),
                                      *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output, json.loads((out / "summary.json").read_text()), out


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return _run(tmp_path_factory, "--shift", "fog")


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    return _run(tmp_path_factory, "--example", "tabular")


@pytest.mark.parametrize("run", ["mnist", "tabular"])
def test_the_agents_adapt_to_the_shift_and_then_leave_it_alone(run, request):
    _, s, _ = request.getfixturevalue(run)
    shift = next(p for p in s["phases"] if p["shift"])
    assert shift["promotions"] and s["promoted"] is True
    assert shift["accuracy_after"] > shift["accuracy_before"] + 0.15
    # settled: once the checker accepted the shift, no alarm; after the model that adapted the
    # loop to it (the final promotion, or the settling), no label request (a batch checked
    # between the promotion and the settling may still alarm)
    assert shift["counted_from"] == "settled"
    assert shift["alarms"] == 0 and shift["label_requests"] == 0
    assert shift["label_requests_after_promotion"] == 0
    [episode] = s["episodes"]
    assert episode["status"] == "resolved" and episode["phase"] == shift["name"]
    # a return to clean data opens no episode and asks for nothing
    last = s["phases"][-1]
    assert not last["shift"] and last["alarms"] == 0 and last["label_requests"] == 0


@pytest.mark.parametrize("run", ["mnist", "tabular"])
def test_labels_are_counted_honestly_and_stay_within_the_budget(run, request):
    _, s, _ = request.getfixturevalue(run)
    [episode] = s["episodes"]
    lab = episode["labels"]
    assert 0 < lab["answered"] <= episode["budget"] == 100
    assert lab["answered"] == lab["oracle"] + lab["human"] and lab["human"] == 0
    assert lab["trained_on"] + lab["held_out"] <= lab["answered"]
    assert s["labels_answered"] == s["labels"]["answered"] == lab["answered"]


def test_the_tabular_loop_improves_with_the_applications_own_retrain_workflow(tabular):
    _, s, _ = tabular
    improvements = [d for d in s["decisions"] if d["agent"] == "planner" and d["decision"] in
                    ("promote", "reject")]
    assert improvements
    assert s["example"] == "tabular" and s["model"] == "segment"


def test_every_agent_decision_comes_with_its_reason(mnist):
    _, s, _ = mnist
    kinds = {(d["agent"], d["decision"]) for d in s["decisions"]}
    assert {("checker", "alert"), ("improver", "improve"), ("planner", "promote"),
            ("checker", "settle"), ("checker", "resolve")} <= kinds
    assert all(d["reason"] for d in s["decisions"])
    promote = next(d for d in s["decisions"] if d["decision"] == "promote")
    assert "accuracy" in promote["reason"]


def test_the_run_prints_progress_urls_tables_and_writes_a_report(mnist):
    output, s, out = mnist
    assert "/dashboard" in output and "mlflow ui --backend-store-uri" in output
    assert "labels answered" in output and "Drift episodes" in output
    report = (out / "report.md").read_text()
    assert "What each agent decided" in report and "Labels answered" in report
    assert "<svg" in (out / "drift.svg").read_text()
    html = (out / "report.html").read_text()
    assert html.count("data:image/svg+xml;base64,") == 2 and "<table>" in html
    assert "scanflow serve" in report and "scanflow serve" in output
