"""Every FastAPI app of Scanflow, built small and real, served by uvicorn on 127.0.0.1 for
schemathesis (``tests/serve/test_schemathesis.py`` in CI, ``benchmarks/fuzz_http.py`` long).

Each builder takes a folder and returns ``(app, schema_path)``; :func:`run_schemathesis` runs
the schemathesis CLI against a served app and returns the counts of its report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

APPS = ("labeling", "prediction", "table", "agent", "stack")
#: The checks a CI run makes; the long run uses ``all``.
CI_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
             "response_schema_conformance,negative_data_rejection")


def labeling_app(folder: Path):
    from scanflow.improve.labels import LabelStore
    from scanflow.serve.labeling import create_labeling_app

    store = LabelStore(folder / "labels.db")
    rng = np.random.default_rng(0)
    store.enqueue(rng.integers(0, 256, size=(20, 8, 8), dtype=np.uint8), batch="img",
                  model_guess=list(rng.integers(0, 10, 20)))
    store.enqueue(rng.normal(size=(10, 3)), batch="tab", meta=[{"columns": ["a", "b", "c"]}] * 10)
    return create_labeling_app(store), "/api/openapi.json"


def prediction_app(folder: Path):
    import torch

    from scanflow.models import InputSchema
    from scanflow.models.torch_model import TorchModel
    from scanflow.serve.predict import create_prediction_app, serve_model

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    model = TorchModel(net, schema=InputSchema.image(4, 4), classes=[0, 1, 2])
    service = serve_model(model, name="fuzz", max_batch=16)
    return create_prediction_app(service), "/openapi.json"


def table_prediction_app(folder: Path):
    """Prediction for a table model (one that takes missing values: null is a valid value)."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    from scanflow.models import InputSchema, as_model
    from scanflow.serve.predict import create_prediction_app, serve_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    clf = HistGradientBoostingClassifier(max_iter=5).fit(X, (X["a"] > 0).astype(int))
    model = as_model(clf, schema=InputSchema.table(["a", "b", "c"]), classes=[0, 1])
    return create_prediction_app(serve_model(model, name="fuzz-table", max_batch=16)), "/openapi.json"


def agent_app(folder: Path):
    from scanflow.agents.service import create_agent_app
    from scanflow.app import Agent, Application

    app = Application(name="fuzz", state_dir=str(folder / "state"), agents=[
        Agent(name="watcher", sensors=[{"name": "predictions", "type": "predictions", "count": 10}],
              rules=[{"name": "busy", "when": "sensor.predictions", "if": "count >= 10",
                      "decision": "note", "then": []}])])
    app.root = folder
    return create_agent_app(app, "watcher", poll_interval=0.2), "/openapi.json"


def stack_app(folder: Path):
    """``scanflow serve`` as a whole: prediction (a small registered model), dashboard,
    labeling and executors, on an embedded tracker."""
    from scanflow.app import Application, Executor, Service, TrackerSettings, Workflow
    from scanflow.serve.stack import ServeStack

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    app = Application(
        name="fuzz", state_dir=str(folder / "state"), tracker=TrackerSettings(uri=uri),
        workflows=[Workflow(name="training", nodes=[
            Executor(name="encode", callable="json:dumps", parameters={"obj": [1, 2]}, cache=False)])],
        services=[Service(name="predict", parameters={"model": "digits"})])
    app.root = folder
    _register_small_model(app, uri)
    return ServeStack(app, poll_interval=0).api, "/openapi.json"


def _register_small_model(app, uri: str) -> None:
    """Version 1 of 'digits' (a tiny MnistCNN), alias champion."""
    import torch

    from scanflow.improve.classifier import DIGITS, MnistCNN
    from scanflow.models import log_torch_model
    from scanflow.track import ensure_experiment, get_client, promote, register_model

    client = get_client(uri)
    run = client.create_run(ensure_experiment(app, client))
    torch.manual_seed(0)
    net = MnistCNN(channels=(2, 2), hidden=4).eval()
    model_uri = log_torch_model(net, "model", run_id=run.info.run_id, schema=DIGITS,
                                init_kwargs=net.get_config())
    client.set_terminated(run.info.run_id)
    promote("digits", register_model(model_uri, "digits", client=client), client=client)


BUILDERS = {"labeling": labeling_app, "prediction": prediction_app, "table": table_prediction_app,
            "agent": agent_app, "stack": stack_app}


def run_schemathesis(url: str, schema_path: str, report_dir: Path, *, checks: str = CI_CHECKS,
                     max_examples: int = 10, phases: str = "examples,coverage,fuzzing",
                     extra: tuple[str, ...] = (), config: Path | None = None) -> dict[str, Any]:
    """Run the schemathesis CLI against ``url`` and return its counts (from the ndjson report).

    It runs in ``report_dir``: schemathesis keeps its crash cache in ``./.schemathesis``, run
    state that belongs with the report (and would otherwise replay old crashes), not in the repo."""
    report_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "schemathesis.cli",
           *(("--config-file", str(config.resolve())) if config else ()),
           "run", url + schema_path, "--url", url,
           "--checks", checks, "--max-examples", str(max_examples), "--phases", phases,
           "--workers", "1", "--request-timeout", "10", "--report", "ndjson",
           "--report-dir", str(report_dir), "--seed", "1", "--no-color",
           "--suppress-health-check", "all", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=report_dir,
                          env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    return {"exit_code": proc.returncode, "output": proc.stdout + proc.stderr,
            **_counts(report_dir)}


def _counts(report_dir: Path) -> dict[str, Any]:
    """Operations, requests, server errors and failed checks, from the ndjson report."""
    operations: set[str] = set()
    requests = 0
    failures: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for file in sorted(report_dir.glob("*.ndjson")):
        for line in file.read_text().splitlines():
            event = json.loads(line)
            _tally(event, operations, failures, statuses)
    requests = sum(statuses.values())
    return {"operations": len(operations), "requests": requests,
            "server_errors": sum(n for s, n in statuses.items() if s >= 500),
            "failures": dict(failures), "statuses": dict(sorted(statuses.items()))}


def _tally(event: dict, operations: set[str], failures: Counter, statuses: Counter) -> None:
    """Count one ndjson event: a finished scenario records its requests and its checks."""
    finished = event.get("ScenarioFinished")
    if not finished:
        return
    recorder = finished.get("recorder") or {}
    label = str(recorder.get("label") or "")
    if label.split(" ")[0] in ("GET", "POST", "PUT", "PATCH", "DELETE") and "->" not in label:
        operations.add(label)
    for interaction in (recorder.get("interactions") or {}).values():
        response = (interaction or {}).get("response") or {}
        if response.get("status_code") is not None:
            statuses[int(response["status_code"])] += 1
    for checks in (recorder.get("checks") or {}).values():
        for check in checks:
            if str(check.get("status", "")).lower() == "failure":
                failures[check.get("name", "?")] += 1
