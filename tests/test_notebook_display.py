"""What a notebook shows for the objects people inspect: key numbers and a small plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scanflow.check import CheckResult
from scanflow.improve.gate import GateDecision
from scanflow.improve.labels import LabelStore
from scanflow.improve.loop import RoundResult
from scanflow.run import NodeRun
from scanflow.run.scheduler import RunResult


def test_check_result_shows_the_verdict_numbers_and_a_score_histogram():
    result = CheckResult(detector="ae", is_drift=True, score=0.41, threshold=0.05, p_value=1e-5,
                         n_samples=4, is_outlier=[True, False, False, True],
                         instance_scores=[0.9, 0.1, 0.2, 0.8], instance_threshold=0.5)
    html = result._repr_html_()
    assert "DRIFT" in html and "2 / 4" in html and "0.41" in html and "1e-05" in html
    assert "<svg" in html and "<line" in html  # the histogram and its threshold


def test_check_result_without_per_sample_scores_has_no_plot():
    html = CheckResult(detector="ks", is_drift=False, score=0.1, p_value=0.4)._repr_html_()
    assert "no drift" in html and "<svg" not in html


def test_run_result_lists_every_node_with_status_attempts_and_time():
    nodes = {"load": NodeRun("load", "succeeded", 1, 2.0),
             "train": NodeRun("train", "failed", 3, 8.0)}
    run = RunResult("abc123", "failed", nodes, Path("/tmp/runs/abc123"), workflow="training",
                    resume_command="scanflow run app --resume abc123", duration=10.5)
    html = run._repr_html_()
    assert "abc123" in html and "training" in html and "10.5 s" in html
    assert html.index(">load<") < html.index(">train<") and ">failed<" in html and ">3<" in html
    assert "width:120.0px" in html and "width:30.0px" in html  # time bars, longest = 120 px
    assert "scanflow run app --resume abc123" in html


def test_round_result_shows_the_decision_labels_and_champion_versus_candidate():
    decision = GateDecision(promote=True, reason="+6.0 points on fog, clean -0.2")
    result = RoundResult(selected=np.arange(3), labels=np.zeros(3), candidate=None,
                         champion_metrics={"drifted_accuracy": 0.80, "clean_accuracy": 0.98},
                         candidate_metrics={"drifted_accuracy": 0.86, "clean_accuracy": 0.978},
                         decision=decision, labels_used=30, trained_on=21, held_out=9,
                         timings={"select": 0.5, "improve": 3.25})
    html = result._repr_html_()
    assert "promote" in html and "+6.0 points on fog" in html and "<b>30</b>" in html
    assert "+0.06" in html and "-0.002" in html and "improve 3.2 s" in html


def test_label_queue_shows_progress_per_batch(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    assert "empty" in store._repr_html_()
    ids = store.enqueue(np.zeros((4, 2, 2)), batch="fog")
    store.enqueue(np.zeros((2, 2, 2)), batch="noise")
    store.claim("ana", 2, batch="fog")
    store.submit(ids[0], 1, "ana")
    store.skip(ids[1], "ana")
    html = store._repr_html_()
    assert "fog" in html and "noise" in html and "all" in html
    assert 'title="labeled" style="display:inline-block;height:8px;background:#2ca02c;width:30.0px"' in html
    store.close()
