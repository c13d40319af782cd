"""``scanflow demo``: the whole loop on the embedded default, in one process plus its nodes.

1. **train** — run the demo application's ``training`` workflow through the scheduler (train the
   classifier and fit the autoencoder detector in parallel, then ``deploy``: register the model
   and make it the ``champion``); cached weights make a second demo skip the training;
2. **serve** — start the prediction API, dashboard and labeling UI (:class:`ServeStack`) under a
   real Uvicorn on 127.0.0.1 and a free port, and the four agents (:class:`AgentRuntime`);
3. **stream** — send clean digits, then corrupted ones, to ``/predict/batch`` over HTTP;
4. the **agents** do the rest: the tracker batches predictions, the checker detects the drift and
   files the most informative samples for labeling, the oracle (or a person in the browser with
   ``--human``) labels them, the improver retrains, the planner gates and promotes, and the API
   hot-swaps the new champion;
5. **report** — accuracy on the corrupted stream before and after the promotion, measured on the
   answers the API really gave, and every agent decision with its reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .settings import DemoSettings
from .stream import SentBatch, StreamLog

__all__ = ["DemoError", "demo_app", "run_demo"]

MODEL_NAME = "mnist-cnn"


class DemoError(RuntimeError):
    """The demo could not run (a failed training node, no writable state folder...)."""


def demo_app(state_dir: str | os.PathLike[str] | None = None):
    """The packaged demo application, with its state in ``state_dir`` (see :func:`_state_dir`)."""
    from scanflow.app import load_app

    app = load_app(str(resources.files("scanflow.demo") / "app"))
    app.state_dir = str(_state_dir(app, state_dir))
    return app


def _state_dir(app, given) -> Path:
    """``given``, else ``$SCANFLOW_HOME``, else ``.scanflow/demo`` in the current folder: the demo
    application ships inside the package, whose folder is no place for run state."""
    if given:
        return Path(given).expanduser().resolve()
    if os.environ.get("SCANFLOW_HOME"):
        return Path(os.environ["SCANFLOW_HOME"]).expanduser().resolve()
    return (Path.cwd() / ".scanflow" / "demo").resolve()


class _Oracle(threading.Thread):
    """Labels every pending sample from the ground truth of the stream (labeler kind "oracle")."""

    def __init__(self, store, log: StreamLog, every: float = 0.3):
        super().__init__(name="scanflow-demo-oracle", daemon=True)
        self.store, self.log, self.every = store, log, every
        self.stop = threading.Event()
        self.labeled = 0
        self.errors: list[str] = []

    def run(self) -> None:
        from scanflow.improve.labels import OracleLabeler

        while not self.stop.wait(self.every):
            try:
                truth = self.log.truth_by_prediction_id()
                for batch, counts in self.store.batch_progress().items():
                    if not counts.get("pending"):
                        continue
                    # The checker can file a sample before the API's answer (and so its truth)
                    # reached the demo; a batch is filed at once, so wait until all of it is known.
                    items = self.store.items_of(batch=batch, status="pending")
                    if max(int(it.meta.get("index", -1)) for it in items) >= len(truth):
                        continue
                    self.labeled += OracleLabeler(truth, name="oracle").label_store(self.store, batch)
            except Exception as exc:  # shown in the summary; the demo goes on
                self.errors.append(str(exc))


def _enqueue_with_truth_index(store):
    """The checker's ``label_enqueue``: the prediction id becomes the oracle's index."""

    def enqueue(X, *, batch, meta=None, scores=None, model_guess=None):
        meta = [dict(m, index=int(m["prediction_id"])) if "prediction_id" in m else dict(m)
                for m in (meta or [{}] * len(X))]
        return store.enqueue(np.asarray(X), batch=batch, meta=meta, scores=scores,
                             model_guess=model_guess)

    return enqueue


def _fresh_run_state(state: Path) -> None:
    """Each demo starts with an empty prediction log, label queue and agent memory; the MLflow
    store (history of every demo) and the caches are kept."""
    for name in ("scanflow.db", "labels.db"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                (state / f"{name}{suffix}").unlink()


def _train(app, settings: DemoSettings, ui) -> dict[str, Any]:
    from scanflow.run import run_workflow

    wf = app.workflow("training")
    if settings.train:
        wf.node("train").parameters = {**wf.node("train").parameters, **settings.train}
    if settings.detector:
        wf.node("fit_detector").parameters = {**wf.node("fit_detector").parameters, **settings.detector}
    ui.phase("train", "training workflow: train + fit_detector in parallel, then deploy")
    result = run_workflow(app, "training", use_cache=False, handle_signals=False, progress=ui.run_event)
    if result.status != "succeeded":
        failed = [n for n in result.nodes.values() if n.status != "succeeded"]
        detail = ""
        for node in failed[:1]:
            if node.stderr and Path(node.stderr).is_file():
                detail = "\n" + "\n".join(Path(node.stderr).read_text().splitlines()[-15:])
        raise DemoError(f"the training workflow {result.status} (run {result.run_id}): "
                        f"{', '.join(n.id for n in failed)} did not succeed{detail}")
    from scanflow.run import RunState

    run_state = RunState.load(result.run_dir)  # a callable node's return value: <node dir>/result.json
    info = json.loads((run_state.node_dir("training/deploy") / "result.json").read_text())
    train_info = json.loads((run_state.node_dir("training/train") / "result.json").read_text())
    return {"run_id": result.run_id, "duration": result.duration, "baseline_version": str(info["champion"]),
            "clean_accuracy": info.get("clean_accuracy"), "cached": train_info.get("cached"),
            "deploy": info}


def _post(http, images: np.ndarray) -> dict[str, Any]:
    import base64

    body = {"images_b64": [base64.b64encode(x.tobytes()).decode() for x in images]}
    r = http.post("/predict/batch", json=body)
    r.raise_for_status()
    return r.json()


def _start_mlflow_ui(uri: str, state: Path) -> tuple[subprocess.Popen, str]:
    from scanflow.serve.server import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    log = open(state / "mlflow-ui.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    return proc, f"http://127.0.0.1:{port}"


def run_demo(settings: DemoSettings | None = None, ui=None) -> dict[str, Any]:
    """Run the demo; returns the summary (also written to ``settings.output`` when set)."""
    import httpx

    from scanflow.agents import AgentRuntime
    from scanflow.datasets import load_mnist, make_stream
    from scanflow.serve.server import ServerThread
    from scanflow.serve.stack import ServeStack
    from scanflow.track import tracking_uri

    from .improve import make_improver
    from .report import build_summary, write_outputs
    from .ui import QuietUI

    settings = settings or DemoSettings.preset()
    ui = ui or QuietUI()
    started = time.time()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    app = demo_app(settings.state_dir)
    state = app.state_path
    state.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(app)
    os.environ["MLFLOW_TRACKING_URI"] = uri  # the nodes, the registry helpers and the agents agree
    _fresh_run_state(state)
    ui.info(f"application {app.name} from {app.root}; state in {state}")

    training = _train(app, settings, ui)
    baseline = training["baseline_version"]
    ui.info(f"champion: {MODEL_NAME} v{baseline} (clean accuracy {training['clean_accuracy']:.3f})")

    log = StreamLog()
    stack = ServeStack(app, model_name=MODEL_NAME, poll_interval=0.5, accuracy=log.accuracy_points,
                       drift_window=200)
    agent_config = {name: dict(conf) for name, conf in settings.agents.items()}
    agent_config.setdefault("checker", {}).update({
        "detector": stack.detector, "label_enqueue": _enqueue_with_truth_index(stack.labels)})
    agent_config.setdefault("planner", {}).setdefault("model", MODEL_NAME)
    improver = make_improver(app, stack.labels, model_name=MODEL_NAME,
                             train_limit=int(settings.train.get("limit", 5000)), seed=settings.seed,
                             session=training["run_id"])
    agent_config.setdefault("improver", {}).setdefault("improve", improver)
    runtime = AgentRuntime(app, config=agent_config, poll_interval=0.5)

    mlflow_proc, mlflow_url = (None, None)
    if settings.mlflow_ui:
        mlflow_proc, mlflow_url = _start_mlflow_ui(uri, state)
        stack.dashboard.mlflow_url = mlflow_url
    server = ServerThread(stack.api, port=settings.port).start()
    oracle = None if settings.human else _Oracle(stack.labels, log)
    ui.urls(dashboard=f"{server.url}/dashboard", labeling=f"{server.url}/label/",
            api_docs=f"{server.url}/docs", mlflow=mlflow_url,
            mlflow_cmd=f"mlflow ui --backend-store-uri {uri}")
    promoted_at: float | None = None
    stream_end_reason = "stream exhausted"
    try:
        runtime.start()
        if oracle is not None:
            oracle.start()
        X, y = load_mnist("test")
        batches = make_stream(X, y, batch_size=settings.batch_size, n_clean=settings.clean_batches,
                              n_drift=settings.max_drift_batches, corruption=settings.corruption,
                              seed=settings.seed)
        onset = settings.clean_batches * settings.batch_size
        ui.phase("stream", f"{settings.clean_batches} clean requests of {settings.batch_size} digits, "
                           f"then '{settings.corruption}' digits from sample {onset}")
        ui.start_stream(len(batches) * settings.batch_size)
        after = 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for b in batches:
                if time.time() - started > settings.timeout:
                    stream_end_reason = f"timeout ({settings.timeout:.0f}s)"
                    break
                t0 = time.time()
                body = _post(http, b.X)
                preds = body["predictions"]
                version = body["model"]["version"]
                sent = SentBatch(
                    index=b.index, start=b.start, y_true=np.asarray(b.y), corrupted=b.corrupted,
                    y_pred=np.array([p["label"] for p in preds]),
                    outliers=np.array([bool(p["outlier"] and p["outlier"]["is_outlier"]) for p in preds]),
                    prediction_ids=np.array([p["prediction_id"] or -1 for p in preds], dtype=np.int64),
                    version=version, sent_at=t0, latency=time.time() - t0)
                log.add(sent)
                if version != baseline and promoted_at is None:
                    promoted_at = t0
                    ui.info(f"the API now answers with v{version} (hot-swapped at sample {b.start})")
                if promoted_at is not None and b.corrupted.all():
                    after += 1
                ui.stream_progress(log, runtime, stack)
                if after >= settings.after_batches:
                    stream_end_reason = "measured the promoted model"
                    break
                time.sleep(settings.pace)
        ui.end_stream()
        if settings.keep_open:
            ui.info(f"serving on {server.url} — press Ctrl+C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
    finally:
        if oracle is not None:
            oracle.stop.set()
            oracle.join(timeout=10)
        runtime.stop()
        server.stop()
        if mlflow_proc is not None:
            mlflow_proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                mlflow_proc.wait(timeout=10)

    summary = build_summary(
        settings=settings, app=app, training=training, log=log, runtime=runtime, stack=stack,
        started=started, onset=settings.clean_batches * settings.batch_size,
        promoted_at=promoted_at, stream_end_reason=stream_end_reason,
        oracle_errors=oracle.errors if oracle is not None else [], tracking=uri,
        server_url=server.url, candidates=improver.candidates,
    )
    summary["files"] = write_outputs(summary, settings.output or state / "demo", log, stack)
    ui.summary(summary)
    return summary


def clear_cache(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """Remove the demo's cached weights (the next demo trains from scratch)."""
    app = demo_app(state_dir)
    target = app.state_path / "cache" / "demo"
    shutil.rmtree(target, ignore_errors=True)
    return target
