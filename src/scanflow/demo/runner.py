"""``scanflow demo``: the whole loop on the embedded default, in one process plus its nodes.

1. **train** — run the example application's ``training`` workflow through the scheduler (the
   model and the detector in parallel, then ``deploy``: register the model and make it the
   ``champion``); cached weights make a second demo quick;
2. **serve** — start the prediction API, dashboard and labeling UI (:class:`ServeStack`) under a
   real Uvicorn on 127.0.0.1 and a free port, and the four agents (:class:`AgentRuntime`);
3. **stream** — send the example's phases over HTTP: clean data, each shift until the agents
   adapted to it, clean data again (:mod:`scanflow.demo.examples`);
4. the **agents** do the rest: the checker opens a drift episode, the improver asks for a few
   labels from the episode's pool (the oracle answers, or a person in the browser with
   ``--human``), builds candidates, the planner gates and promotes, the API hot-swaps the model,
   the checker settles the episode and stops alarming on that shift;
5. **report** — per phase, accuracy before and after each promotion measured on the answers the
   API really gave; per episode, its labels (asked, answered, used); every decision and why.
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
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.app import load_app
from scanflow.errors import ScanflowError
from scanflow.run import RunState, run_workflow
from scanflow.serve.server import ServerThread, free_port
from scanflow.track import tracking_uri

from .examples import EXAMPLES, Example, Phase, get_example
from .report import write_outputs
from .settings import DemoSettings
from .stream import SentBatch, StreamLog
from .summary import build_summary
from .ui import QuietUI

__all__ = ["DemoError", "clear_cache", "demo_app", "packaged_state_dir", "run_demo"]


class DemoError(ScanflowError, RuntimeError):
    """The demo could not run (a failed training node, no writable state folder...)."""


def demo_app(state_dir: str | os.PathLike[str] | None = None, example: str = "mnist"):
    """The packaged application of ``example``, with its state in ``state_dir`` (see
    :func:`_state_dir`)."""
    app = load_app(str(get_example(example).app_dir))
    app.state_dir = str(_state_dir(state_dir, example))
    return app


def _state_dir(given, example: str) -> Path:
    """``given``, else ``$SCANFLOW_HOME``, else ``.scanflow/demo[-example]`` here: the demo
    applications ship inside the package, whose folder is no place for run state."""
    if given:
        return Path(given).expanduser().resolve()
    if os.environ.get("SCANFLOW_HOME"):
        return Path(os.environ["SCANFLOW_HOME"]).expanduser().resolve()
    return (Path.cwd() / ".scanflow" / ("demo" if example == "mnist" else f"demo-{example}")).resolve()


def packaged_state_dir(application) -> Path | None:
    """Where ``scanflow demo`` keeps the state of ``application`` when it is one of the packaged
    demo applications and its spec names no ``state_dir`` (else None): so that ``scanflow serve
    src/scanflow/demo/app`` after ``scanflow demo`` finds the demo's models, labels and agents."""
    if application.state_dir:
        return None
    root = Path(application.root).resolve()
    for name, example in EXAMPLES.items():
        if example.app_dir.resolve() == root:
            return _state_dir(None, name)
    return None


def serve_command(example: str, state: Path) -> str:
    """The command that serves ``example``'s application again on ``state`` (from here)."""
    app_dir = get_example(example).app_dir.resolve()
    try:
        shown = app_dir.relative_to(Path.cwd().resolve())
    except ValueError:
        shown = app_dir
    default = Path(state).resolve() == _state_dir(None, example)
    return f"scanflow serve {shown}" + ("" if default else f" --state-dir {state}")


class _Oracle(threading.Thread):
    """Labels every pending sample from the ground truth of the stream (labeler kind "oracle")."""

    def __init__(self, store, log: StreamLog, every: float = 0.3):
        super().__init__(name="scanflow-demo-oracle", daemon=True)
        self.store, self.log, self.every = store, log, every
        self.stop = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self._label_pending()
            except Exception as exc:  # shown in the summary; the demo goes on
                self.errors.append(str(exc))

    def _label_pending(self) -> None:
        # lazy: scanflow.improve.labelers loads SQLAlchemy, which importing scanflow.demo skips (its nodes import it)
        from scanflow.improve.labelers import OracleLabeler

        truth = self.log.truth()
        for batch, counts in self.store.batch_progress().items():
            if not counts.get("pending"):
                continue
            items = self.store.items_of(batch=batch, status="pending")
            if any(int(it.meta.get("index", -1)) not in truth for it in items):
                continue  # the API's answer (and so its truth) has not reached the demo yet
            OracleLabeler(_dense(truth), name="oracle").label_store(self.store, batch)


def _dense(truth: dict[int, Any]) -> np.ndarray:
    out = np.empty(max(truth) + 1, dtype=object)
    for k, v in truth.items():
        out[k] = v
    return out


def _fresh_run_state(state: Path) -> None:
    """Each demo starts with an empty prediction log, label queue and agent memory; the MLflow
    store (history of every demo) and the caches are kept."""
    for name in ("scanflow.db", "labels.db"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                (state / f"{name}{suffix}").unlink()


def _train(app, example: Example, settings: DemoSettings, ui) -> dict[str, Any]:
    overrides = {**(example.quick if settings.quick else {}), **settings.train}
    for node, params in overrides.items():
        wf_node = app.workflow("training").node(node)
        wf_node.parameters = {**wf_node.parameters, **params}
    ui.phase("train", "training workflow: model, detector and first-response filter in parallel, "
                      "then deploy")
    result = run_workflow(app, "training", use_cache=False, handle_signals=False, progress=ui.run_event)
    if result.status != "succeeded":
        raise DemoError(_failure(result))
    info = _deploy_result(RunState.load(result.run_dir))
    return {"run_id": result.run_id, "duration": result.duration,
            "baseline_version": str(info["champion"]), "clean_accuracy": info.get("clean_accuracy"),
            "deploy": info}


def _deploy_result(run) -> dict[str, Any]:
    """What the ``deploy`` node reported: a callable's return value or a script's deploy.json."""
    for path in (run.node_dir("training/deploy") / "result.json", run.output_dir / "deploy.json"):
        if path.is_file():
            return json.loads(path.read_text())
    raise DemoError("the deploy node reported no champion (no result.json or deploy.json)")


def _failure(result) -> str:
    failed = [n for n in result.nodes.values() if n.status != "succeeded"]
    detail = ""
    for node in failed[:1]:
        if node.stderr and Path(node.stderr).is_file():
            detail = "\n" + "\n".join(Path(node.stderr).read_text().splitlines()[-15:])
    return (f"the training workflow {result.status} (run {result.run_id}): "
            f"{', '.join(n.id for n in failed)} did not succeed{detail}")


def _start_mlflow_ui(uri: str, state: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    log = open(state / "mlflow-ui.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    return proc, f"http://127.0.0.1:{port}"


class _Demo:
    """The running parts of one demo: served stack, agents, oracle, stream log."""

    def __init__(self, settings: DemoSettings, ui):
        self.settings, self.ui = settings, ui
        self.example = get_example(settings.example)
        self.app = demo_app(settings.state_dir, settings.example)
        self.state = self.app.state_path
        self.state.mkdir(parents=True, exist_ok=True)
        self.serve_command = serve_command(settings.example, self.state)
        self.uri = tracking_uri(self.app)
        self._previous_uri = os.environ.get("MLFLOW_TRACKING_URI")  # restored by stop()
        os.environ["MLFLOW_TRACKING_URI"] = self.uri  # the nodes, the registry and the agents agree
        _fresh_run_state(self.state)
        self.log = StreamLog()
        self.started = time.time()
        self.stream_end = "stream finished"

    def start(self, training: dict[str, Any]) -> None:
        # lazy: scanflow.agents loads SQLAlchemy, which importing scanflow.demo skips (its nodes import it)
        from scanflow.agents import AgentRuntime

        # lazy: scanflow.serve.stack loads FastAPI, which importing scanflow.demo skips
        from scanflow.serve.stack import ServeStack

        self.training = training
        self.stack = ServeStack(self.app, poll_interval=0.5, accuracy=self.log.accuracy_points)
        self.runtime = AgentRuntime(self.app, config=self._agent_config(), poll_interval=0.5)
        self.mlflow = _start_mlflow_ui(self.uri, self.state) if self.settings.mlflow_ui else (None, None)
        self.stack.dashboard.mlflow_url = self.mlflow[1]
        self.server = ServerThread(self.stack.api, port=self.settings.port).start()
        self.oracle = None if self.settings.human else _Oracle(self.stack.labels, self.log)
        self.ui.urls(dashboard=f"{self.server.url}/dashboard", labeling=f"{self.server.url}/label/",
                     api_docs=f"{self.server.url}/docs", mlflow=self.mlflow[1],
                     mlflow_cmd=f"mlflow ui --backend-store-uri {self.uri}")
        self.runtime.start()
        if self.oracle is not None:
            self.oracle.start()

    def _agent_config(self) -> dict[str, dict[str, Any]]:
        quick = self.example.quick_agents if self.settings.quick else {}
        names = set(quick) | set(self.settings.agents)
        return {n: {**quick.get(n, {}), **self.settings.agents.get(n, {})} for n in names}

    def restore_environment(self) -> None:
        """Put ``MLFLOW_TRACKING_URI`` back: a later demo in this process must not use this store."""
        if self._previous_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = self._previous_uri

    def stop(self) -> None:
        if getattr(self, "oracle", None) is not None:
            self.oracle.stop.set()
            self.oracle.join(timeout=10)
        for part in ("runtime", "server"):
            if hasattr(self, part):
                getattr(self, part).stop()
        proc = getattr(self, "mlflow", (None, None))[0]
        if proc is not None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    # -- the stream --------------------------------------------------------------------------
    def send(self, http, phase: Phase, rng: np.random.Generator) -> SentBatch:
        n = self.settings.batch_size or self.example.batch_size
        X, y = phase.draw(n, rng)
        t0 = time.time()
        r = http.post("/predict/batch", json=self.example.body(X))
        r.raise_for_status()
        body = r.json()
        preds = body["predictions"]
        batch = SentBatch(
            index=len(self.log.batches), start=self.log.n_samples, phase=phase.name, shift=phase.shift,
            y_true=np.asarray(y, dtype=object), y_pred=np.asarray([p["label"] for p in preds], dtype=object),
            outliers=np.array([bool(p["outlier"] and p["outlier"]["is_outlier"]) for p in preds]),
            prediction_ids=np.array([p["prediction_id"] or -1 for p in preds], dtype=np.int64),
            version=body["model"]["version"], sent_at=t0, latency=time.time() - t0)
        self.log.add(batch)
        self.ui.stream_progress(self.log, self.runtime, self.stack)
        return batch

    def adapted(self, since: float) -> bool:
        """Whether the checker settled the episode opened since ``since`` (promoted, judged
        already handled, or out of labels: the checker accepts its shift in each case), or it
        was resolved or closed. An episode merely out of labels is not yet adapted: the phase
        goes on until the checker has accepted the shift, so the batches after it show that it
        no longer alarms."""
        # lazy: scanflow.agents loads SQLAlchemy, which importing scanflow.demo skips (its nodes import it)
        from scanflow.agents import EpisodeStore

        return any(ep.opened_at >= since and ep.status in ("settling", "resolved", "closed")
                   for ep in EpisodeStore(self.runtime.store).list())

    def run_phase(self, http, phase: Phase, rng: np.random.Generator) -> None:
        start, sent, after = time.time(), 0, 0
        while True:
            if time.time() - self.started > self.settings.timeout:
                self.stream_end = f"timeout ({self.settings.timeout:.0f}s)"
                return
            self.send(http, phase, rng)
            sent += 1
            if not phase.shift and sent >= phase.batches:
                return
            if phase.shift:
                after = after + 1 if self.adapted(start) else after
                if sent >= phase.batches and after >= self.settings.after_batches:
                    return
                if sent >= phase.max_batches:
                    self.stream_end = f"{phase.name}: the loop had not settled after {sent} batches"
                    return
            time.sleep(self.settings.pace)

    def stream(self) -> None:
        # lazy: httpx, only streaming needs it
        import httpx

        phases = self.example.phases(self.settings)
        rng = np.random.default_rng(self.settings.seed)
        n = self.settings.batch_size or self.example.batch_size
        self.ui.phase("stream", " → ".join(p.name for p in phases) + f" ({n} {self.example.noun} "
                      "per request; each shift lasts until the agents have adapted to it)")
        self.ui.start_stream(None)
        with httpx.Client(base_url=self.server.url, timeout=120) as http:
            for phase in phases:
                self.ui.info(f"phase: {phase.name}")
                self.run_phase(http, phase, rng)
                if self.stream_end != "stream finished":
                    break
        self.ui.end_stream()
        self.runtime.run_until(lambda rt: rt.idle(), timeout=30)


def run_demo(settings: DemoSettings | None = None, ui=None) -> dict[str, Any]:
    """Run the demo; returns the summary (also written to ``settings.output`` when set)."""
    settings = settings or DemoSettings.preset()
    ui = ui or QuietUI()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    demo = _Demo(settings, ui)
    try:
        summary = _run(demo)
    finally:
        demo.restore_environment()
    ui.summary(summary)
    return summary


def _run(demo: _Demo) -> dict[str, Any]:
    demo.ui.info(f"application {demo.app.name} from {demo.app.root}; state in {demo.state}")
    training = _train(demo.app, demo.example, demo.settings, demo.ui)
    demo.ui.info(f"champion: {demo.example.model} v{training['baseline_version']} (clean accuracy "
                 f"{training['clean_accuracy']:.3f})")
    try:
        demo.start(training)
        demo.stream()
        _keep_open(demo)
    finally:
        demo.stop()
    summary = build_summary(demo)
    summary["files"] = write_outputs(summary, demo.settings.output or demo.state / "demo", demo)
    return summary


def _keep_open(demo: _Demo) -> None:
    if demo.settings.keep_open:
        demo.ui.info(f"serving on {demo.server.url} — press Ctrl+C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


def clear_cache(state_dir: str | os.PathLike[str] | None = None, example: str = "mnist") -> Path:
    """Remove the demo's cached weights (the next demo trains from scratch)."""
    target = demo_app(state_dir, example).state_path / "cache"
    shutil.rmtree(target, ignore_errors=True)
    return target
