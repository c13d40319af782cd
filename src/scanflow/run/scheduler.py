"""The scheduler: orders nodes, runs independent ones in parallel, retries, caches, resumes,
tracks — the same for every backend, which only runs one node attempt at a time.

>>> from scanflow.app import Application, Workflow, Executor
>>> import tempfile
>>> app = Application(name="demo", state_dir=tempfile.mkdtemp(), workflows=[
...     Workflow(name="main", nodes=[Executor(name="a", callable="m:f"),
...                                  Executor(name="b", callable="m:g", depends_on=["a"])])])
>>> backend = InMemoryBackend({"a": lambda: 1, "b": lambda: 2})
>>> result = run_workflow(app, backend=backend, track=False)
>>> result.status, result.statuses
('succeeded', {'main/a': 'succeeded', 'main/b': 'succeeded'})

Environment of every node (on top of the scheduler's own environment and the node's ``env``):

=======================  ==================================================================
``SCANFLOW_RUN_ID``      the run id (also the MLflow parent run id when tracking is on)
``SCANFLOW_NODE``        the node id, e.g. ``training/evaluation/evaluate``
``SCANFLOW_OUTPUT_DIR``  a folder shared by all the nodes of the run: write files there for
                         downstream nodes, and list them in ``outputs:`` so that they are
                         cached, restored on a cache hit and logged as artifacts
``SCANFLOW_NODE_DIR``    the node's own folder (its working directory and logs)
``SCANFLOW_STATE_DIR``   the application's state folder
``SCANFLOW_APP_DIR``     the application folder (also put on ``PYTHONPATH``)
``SCANFLOW_PARAM_<N>``   each parameter (also passed as ``--n value``)
``SCANFLOW_ATTEMPT``     1 for the first attempt, 2 for the first retry...
``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_ID``, ``MLFLOW_RUN_ID`` (the node's nested run)
=======================  ==================================================================
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import os
import shlex
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanflow.app.plan import Plan, PlannedNode, build_command, build_plan, param_env
from scanflow.errors import ScanflowError

from ..app import Application, load_app
from ..track.journal import make_recorder
from .backend import Backend, NodeResult, NodeTask
from .cache import NodeCache, cache_key, hash_path
from .envs import EnvCreationError, ensure_env, env_python
from .local import LocalBackend, kill_stale
from .memory import InMemoryBackend
from .state import FAILED, FINISHED_OK, RunState, _create_time, find_run

STATE_MARKER = ".scanflow-state"


class RunError(ScanflowError, RuntimeError):
    """A run cannot start or resume (the message says why and what to do)."""


@dataclass
class NodeRun:
    """How one node of a run ended."""

    id: str
    status: str = "pending"
    attempts: int = 0
    duration: float = 0.0
    cached: bool = False
    cache_key: str | None = None
    mlflow_run_id: str | None = None
    returncode: int | None = None
    error: str | None = None
    stdout: Path | None = None
    stderr: Path | None = None

    @classmethod
    def from_state(cls, node_id: str, data: dict[str, Any]) -> NodeRun:
        return cls(node_id, data.get("status", "pending"), data.get("attempts", 0), data.get("duration") or 0.0,
                   data.get("status") == "cached", data.get("cache_key"), data.get("mlflow_run_id"),
                   data.get("returncode"), data.get("error"),
                   Path(data["stdout"]) if data.get("stdout") else None,
                   Path(data["stderr"]) if data.get("stderr") else None)


@dataclass
class RunResult:
    """The outcome of :func:`run_workflow`."""

    run_id: str
    status: str                                  # succeeded | failed | cancelled
    nodes: dict[str, NodeRun]
    run_dir: Path
    workflow: str | None = None
    resume_command: str | None = None
    tracking_uri: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def statuses(self) -> dict[str, str]:
        return {k: v.status for k, v in self.nodes.items()}

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.nodes.items() if v.status in ("failed", "timeout")]

    @property
    def output_dir(self) -> Path:
        return self.run_dir / "outputs"

    def _repr_html_(self) -> str:
        """Jupyter: the status, each node's status, attempts and time (as bars)."""
        from ..html import render  # lazy: Jinja2, only in notebooks

        longest = max([n.duration or 0.0 for n in self.nodes.values()] + [1e-9])
        return render("run_result.html.j2", run=self, longest=longest)

    def __str__(self) -> str:
        text = f"run {self.run_id} {self.status} in {self.duration:.1f} s"
        if self.resume_command:
            text += f"; resume with: {self.resume_command}"
        return text


@dataclass
class ProgressEvent:
    """What the scheduler reports to a ``progress`` callback."""

    kind: str                    # plan | start | retry | finish | cancel | done
    run_id: str
    node: str | None = None
    status: str | None = None
    attempt: int = 0
    duration: float = 0.0
    message: str | None = None
    nodes: list[str] = field(default_factory=list)   # "plan": every node id, in order


ProgressCallback = Callable[[ProgressEvent], None]


class Scheduler:
    """Runs the workflows of an application on a backend.

    Parameters
    ----------
    app : Application
    backend : Backend, optional
        Default :class:`LocalBackend`.
    use_cache : bool
        Skip nodes whose key is in the cache (nodes can opt out with ``cache: false``).
    max_parallel : int, optional
        Nodes running at once; default the workflow's ``max_parallel``, else the CPU count.
    progress : callable, optional
        Called with a :class:`ProgressEvent` on every change.
    track : bool
        Record the run in MLflow (parent run, nested runs per group and node).
    deferred_tracking : bool
        Journal the records and let a background process write them to MLflow
        (:mod:`scanflow.track.journal`): the run starts without loading MLflow, and ends
        without waiting for the store; the records follow a moment later. Only on the
        embedded SQLite store; elsewhere the records are written as the run goes.
    handle_signals : bool
        On SIGINT/SIGTERM (main thread only), stop the running nodes and record the run.
    app_arg : str, optional
        How the user named the application, for the printed resume command.
    """

    def __init__(self, app: Application, backend: Backend | None = None, *, use_cache: bool = True,
                 max_parallel: int | None = None, progress: ProgressCallback | None = None,
                 track: bool = True, handle_signals: bool = True, app_arg: str | None = None,
                 deferred_tracking: bool = False):
        self.app = app
        self.backend = backend if backend is not None else LocalBackend()
        self.use_cache = use_cache
        self.max_parallel = max_parallel
        self.progress = progress
        self.track = track
        self.deferred_tracking = deferred_tracking
        self.handle_signals = handle_signals
        self.app_arg = app_arg
        self._cancel = threading.Event()
        self._groups_lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop: no new node starts, running nodes are stopped, the run is recorded."""
        if not self._cancel.is_set():
            self._cancel.set()
            self._emit(ProgressEvent("cancel", getattr(self, "run_id", ""), message="cancelling"))

    def run(self, workflow: str | None = None, resume: str | None = None) -> RunResult:
        self._cancel = threading.Event()
        state_dir = self.app.state_path
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / STATE_MARKER).touch()
        old = None
        if resume:
            old = find_run(state_dir, resume)
            workflow = workflow or old.data.get("workflow")
        self.plan = build_plan(self.app, workflow)
        self.workflow = workflow
        # Connected before the run is recorded: a cluster that cannot be reached leaves no run.
        self.backend.open()
        self.cache = NodeCache(state_dir / "cache")
        self.recorder = None
        if self.track:
            self.recorder = make_recorder(self.app, self.deferred_tracking)
        self.state = self._resume(old) if old is not None else self._start(workflow)
        self.run_id = self.state.run_id
        started = time.time()
        previous = self._install_signals()
        try:
            self._emit(ProgressEvent("plan", self.run_id, nodes=list(self.plan.nodes)))
            for node_id, data in self.state.data["nodes"].items():
                if node_id in self.plan.nodes and data["status"] == "reused":
                    self._emit(ProgressEvent("finish", self.run_id, node_id, "reused"))
            self._loop()
        finally:
            self._restore_signals(previous)
            status = self._finish(started)
        self._emit(ProgressEvent("done", self.run_id, status=status, duration=time.time() - started))
        return self.result(time.time() - started)

    def result(self, duration: float = 0.0) -> RunResult:
        nodes = {nid: NodeRun.from_state(nid, self.state.node(nid)) for nid in self.plan.nodes}
        status = self.state.data["status"]
        return RunResult(self.run_id, status, nodes, self.state.folder, self.workflow,
                         None if status == "succeeded" else self.resume_command(),
                         self.recorder.uri if self.recorder else None, duration)

    def resume_command(self) -> str:
        target = self.app_arg
        if target is None:
            source = self.app.source or self.app.root
            try:
                target = os.path.relpath(source)
            except ValueError:
                target = str(source)
        cmd = f"scanflow run {shlex.quote(str(target))}"
        if self.workflow:
            cmd += f" --workflow {shlex.quote(self.workflow)}"
        if self.backend.name == "ray":  # the other backend the command line knows: resume there
            cmd += " --backend ray"
            if getattr(self.backend, "address", None):
                cmd += f" --address {shlex.quote(str(self.backend.address))}"
        return cmd + f" --resume {self.run_id}"

    # -- starting and resuming ----------------------------------------------------------------

    def _label(self) -> str:
        return self.workflow or "+".join(self.plan.workflows)

    def _start(self, workflow: str | None) -> RunState:
        label = self._label()
        fields: dict[str, Any] = {
            "app": self.app.name, "app_source": str(self.app.source or self.app.root),
            "app_arg": self.app_arg, "workflow": workflow, "workflows": self.plan.workflows,
            "backend": self.backend.name, "use_cache": self.use_cache, "max_parallel": self._slots(),
            "backend_address": getattr(self.backend, "address", None),  # a resume joins it again
        }
        if self.recorder is not None:
            run_id = self.recorder.start(
                label, {"scanflow.kind": "workflow", "scanflow.workflow": label},
                params={"workflow": label, "backend": self.backend.name, "use_cache": self.use_cache,
                        "max_parallel": self._slots(), "nodes": len(self.plan.nodes)})
            fields["mlflow"] = {"tracking_uri": self.recorder.uri, "experiment_id": self.recorder.experiment_id,
                                "run_id": run_id}
        else:
            run_id = uuid.uuid4().hex
        state = RunState.create(self.app.state_path, run_id, **fields)
        for node in self.plan.nodes.values():
            state.node(node.id)["deps"] = node.deps
        state.save()
        return state

    def _resume(self, old: RunState) -> RunState:
        if old.data.get("status") == "running" and old.is_alive():
            raise RunError(f"run {old.run_id} is still running (pid {old.data.get('pid')}): "
                           "stop it first (Ctrl-C or kill PID), then resume")
        for data in old.data["nodes"].values():
            if data.get("status") == "running":
                kill_stale(data.get("pid"), data.get("pid_create_time"))  # left by a kill -9
        mlflow_info = old.data.get("mlflow") or {}
        if self.recorder is not None and mlflow_info.get("run_id"):
            self.recorder.reopen(mlflow_info["run_id"])
            self.recorder.kill_running_children(mlflow_info["run_id"])
            for group_run in old.data.get("groups", {}).values():
                self.recorder.reopen(group_run)

        old.data.update(status="running", finished_at=None, pid=os.getpid(), pid_create_time=_create_time(os.getpid()),
                        resumed_at=[*old.data.get("resumed_at", []), time.time()])
        for node in self.plan.nodes.values():
            data = old.node(node.id)
            outputs_ok = all((old.output_dir / o).exists() for o in node.executor.outputs)
            if data.get("status") in FINISHED_OK and outputs_ok:
                data["status"] = "reused"
            else:
                if data.get("status") not in (None, "pending"):
                    data["previous_status"] = data.get("status")
                data.update(status="pending", attempts=0, pid=None, error=None)
            data["deps"] = node.deps
        old.save()
        return old

    # -- the loop -----------------------------------------------------------------------------

    def _slots(self) -> int:
        if self.max_parallel:
            return max(1, int(self.max_parallel))
        if len(self.plan.workflows) == 1 and self.app.workflow(self.plan.workflows[0]).max_parallel:
            return int(self.app.workflow(self.plan.workflows[0]).max_parallel)
        return os.cpu_count() or 1

    def _loop(self) -> None:
        slots = self._slots()
        pending = [nid for nid in self.plan.nodes if self.state.node(nid)["status"] == "pending"]
        running: dict[cf.Future, str] = {}
        self.backend.open()
        with cf.ThreadPoolExecutor(max_workers=slots, thread_name_prefix="scanflow-node") as pool:
            while pending or running:
                if not self._cancel.is_set():
                    for nid in list(pending):
                        if len(running) >= slots:
                            break
                        deps = [self.state.node(d)["status"] for d in self.plan.nodes[nid].deps]
                        if any(s in FAILED for s in deps):
                            pending.remove(nid)
                            bad = [d for d in self.plan.nodes[nid].deps if self.state.node(d)["status"] in FAILED]
                            self.state.update_node(nid, status="skipped", error=f"upstream {', '.join(bad)} did not succeed")
                            self._emit(ProgressEvent("finish", self.run_id, nid, "skipped"))
                        elif all(s in FINISHED_OK for s in deps):
                            pending.remove(nid)
                            self.state.update_node(nid, status="queued", persist=False)
                            running[pool.submit(self._execute, self.plan.nodes[nid])] = nid
                elif pending:
                    pending.clear()  # cancelled: nothing new starts; they stay "pending"
                if not running:
                    if pending:  # unreachable for a DAG, but never spin
                        raise RunError(f"nodes {pending} can never start")
                    break
                done, _ = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    nid = running.pop(future)
                    exc = future.exception()
                    if exc is not None:  # _execute records its own errors; this is a last resort
                        self.state.update_node(nid, status="failed", error=f"internal error: {exc!r}")
        for nid in self.plan.nodes:
            if self.state.node(nid)["status"] == "queued":
                self.state.update_node(nid, status="pending")

    def _execute(self, node: PlannedNode) -> None:
        try:
            self._execute_node(node)
        except Exception as exc:  # noqa: BLE001 - a node's bookkeeping failed: fail the node, not the run
            stderr = self.state.node_dir(node.id) / "logs" / "stderr.log"
            stderr.parent.mkdir(parents=True, exist_ok=True)
            with open(stderr, "a") as f:
                f.write(f"scanflow: internal error while running the node:\n{traceback.format_exc()}")
            self.state.update_node(node.id, status="failed", error=f"internal error: {exc!r}",
                                   finished_at=time.time())
            self._emit(ProgressEvent("finish", self.run_id, node.id, "failed", message=str(exc)))

    def _execute_node(self, node: PlannedNode) -> None:
        app, executor, state = self.app, node.executor, self.state
        node_dir = state.node_dir(node.id)
        node_dir.mkdir(parents=True, exist_ok=True)
        stdout, stderr = node_dir / "logs" / "stdout.log", node_dir / "logs" / "stderr.log"
        requirements = executor.requirement_list(app.root)
        upstream = {d: {"key": state.node(d).get("cache_key"), "outputs": state.node(d).get("output_hashes", {})}
                    for d in node.deps}
        key = cache_key(app, executor, requirements, upstream, node.id)
        caching = self.use_cache and executor.cache
        params = {**executor.parameters, **({"args": " ".join(executor.args)} if executor.args else {})}
        tags = {"scanflow.kind": "node", "scanflow.node": node.id, "scanflow.workflow": node.workflow,
                "scanflow.run_id": self.run_id, "scanflow.cache_key": key}
        entry = self.cache.lookup(key) if caching else None
        if entry is not None:
            self._restore_cached(node, key, entry, tags, params)
            return

        started = time.time()
        mlflow_run = None
        if self.recorder is not None:
            mlflow_run = self.recorder.start(executor.name, tags, params, parent=self._parent_run(node))
        state.update_node(node.id, status="running", started_at=started, cache_key=key, mlflow_run_id=mlflow_run,
                          stdout=str(stdout), stderr=str(stderr), attempts=0, error=None)
        self._emit(ProgressEvent("start", self.run_id, node.id, "running", attempt=1))

        result = self._attempts(node, requirements, mlflow_run, stdout, stderr)
        status, error = result.status, result.error
        if self._cancel.is_set() and status != "succeeded":
            status = "cancelled"
        hashes: dict[str, str] = {}
        if status == "succeeded":
            status, error, hashes = self._collect_outputs(node, key if caching else None, mlflow_run)
        finished = time.time()
        if self.recorder is not None and mlflow_run is not None:
            self._record_node_run(node, mlflow_run, status, error, result.returncode, finished)
        state.update_node(node.id, status=status, finished_at=finished, duration=finished - started,
                          returncode=result.returncode, error=error, output_hashes=hashes, pid=None)
        self._emit(ProgressEvent("finish", self.run_id, node.id, status, state.node(node.id)["attempts"],
                                 finished - started, error))

    def _restore_cached(self, node: PlannedNode, key: str, entry: dict[str, Any],
                        tags: dict[str, str], params: dict[str, Any]) -> None:
        """Serve the node from the cache: restore its outputs, record a ``cached`` MLflow run."""
        hashes = self.cache.restore(key, self.state.output_dir)
        run_id = None
        if self.recorder is not None:
            run_id = self.recorder.start(node.executor.name, {**tags, "scanflow.cached": "true",
                                                              "scanflow.cache_source_run": entry.get("mlflow_run_id") or ""},
                                         params, parent=self._parent_run(node))
            self.recorder.finish_later(run_id, "cached", end_time=time.time())
        now = time.time()
        self.state.update_node(node.id, status="cached", cache_key=key, output_hashes=hashes, mlflow_run_id=run_id,
                               started_at=now, finished_at=now, duration=0.0, attempts=0,
                               cache_source_run=entry.get("run_id"), error=None)
        self._emit(ProgressEvent("finish", self.run_id, node.id, "cached"))

    def _collect_outputs(self, node: PlannedNode, cache_key: str | None,
                         mlflow_run: str | None) -> tuple[str, str | None, dict[str, str]]:
        """Check a succeeded node wrote its declared outputs; hash them and cache them."""
        executor, output_dir = node.executor, self.state.output_dir
        missing = [o for o in executor.outputs if not (output_dir / o).exists()]
        if missing:
            return "failed", (f"declared outputs not written: {', '.join(missing)} "
                              f"(write them under $SCANFLOW_OUTPUT_DIR = {output_dir})"), {}
        hashes = {o: hash_path(output_dir / o) for o in executor.outputs}
        if cache_key is not None:
            self.cache.store(cache_key, output_dir, executor.outputs,
                             {"node": node.id, "run_id": self.run_id, "mlflow_run_id": mlflow_run})
        return "succeeded", None, hashes

    def _record_node_run(self, node: PlannedNode, mlflow_run: str, status: str, error: str | None,
                         returncode: int | None, finished: float) -> None:
        """Log the node's logs, result and outputs to its MLflow run and end it, in the
        background: the slot is free for the next node at once."""
        state = self.state
        node_dir = state.node_dir(node.id)
        files = [(node_dir / "logs", ""), (node_dir / "result.json", "")]
        for out in node.executor.outputs if status == "succeeded" else []:
            parent = str(Path(out).parent)
            files.append((state.output_dir / out, "outputs" if parent == "." else f"outputs/{parent}"))
        self.recorder.finish_later(mlflow_run, status, {"scanflow.attempts": state.node(node.id)["attempts"],
                                                        "scanflow.returncode": returncode,
                                                        "scanflow.error": error or ""}, finished, files)

    def _attempts(self, node: PlannedNode, requirements: list[str], mlflow_run: str | None,
                  stdout: Path, stderr: Path) -> NodeResult:
        executor, state = node.executor, self.state
        python, extra = sys.executable, {}
        if executor.isolated:
            try:
                env_dir = ensure_env(requirements, self.app.state_path / "envs",
                                     log=state.node_dir(node.id) / "env.log")
            except (EnvCreationError, OSError) as exc:
                with open(stderr, "a") as f:
                    f.write(f"scanflow: could not create the isolated environment: {exc}\n")
                return NodeResult("failed", None, time.time(), time.time(), f"isolated environment: {exc}")
            python = str(env_python(env_dir))
            extra = {"VIRTUAL_ENV": str(env_dir), "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        command = build_command(self.app, executor, python)
        workdir = (self.app.root / executor.workdir) if executor.workdir else state.node_dir(node.id)
        env = {**self._env(node, mlflow_run), **extra}
        state.update_node(node.id, command=command, workdir=str(workdir), persist=False)
        resources = {"cpu": executor.resources.cpu_cores, "memory": executor.resources.memory_bytes, "gpu": executor.resources.gpu}
        result = NodeResult("failed", error="not started")
        for attempt in range(1, executor.retries + 2):
            task = NodeTask(
                run_id=self.run_id, node_id=node.id, command=command, workdir=workdir,
                env={**env, "SCANFLOW_ATTEMPT": str(attempt)}, stdout_path=stdout, stderr_path=stderr,
                timeout=executor.timeout, attempt=attempt, resources={k: v for k, v in resources.items() if v is not None},
                requirements=requirements, cancel=self._cancel, node=executor, parameters=dict(executor.parameters),
                on_start=lambda info, nid=node.id: state.update_node(nid, pid=info.get("pid"),
                                                                     pid_create_time=info.get("create_time")),
            )
            try:
                result = self.backend.run_node(task)
            except Exception as exc:  # noqa: BLE001 - a backend error fails this attempt
                with open(stderr, "a") as f:
                    f.write(f"scanflow: backend {self.backend.name!r} failed: {traceback.format_exc()}\n")
                result = NodeResult("failed", None, time.time(), time.time(), f"backend error: {exc!r}")
            # Saved with the node's end, or just below before a retry.
            state.update_node(node.id, attempts=attempt, pid=None, last_error=result.error, persist=False)
            if result.ok or result.status == "cancelled" or self._cancel.is_set() or attempt > executor.retries:
                break
            state.save()
            delay = executor.retry_backoff * 2 ** (attempt - 1)
            self._emit(ProgressEvent("retry", self.run_id, node.id, result.status, attempt + 1,
                                     message=f"{result.error}; retrying in {delay:g} s"))
            if self._cancel.wait(delay):
                break
        return result

    def _env(self, node: PlannedNode, mlflow_run: str | None) -> dict[str, str]:
        ex, st = node.executor, self.state
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")}
        env.update(ex.env)
        if ex.resources.cpu_cores and "OMP_NUM_THREADS" not in ex.env:
            env["OMP_NUM_THREADS"] = str(max(1, int(ex.resources.cpu_cores)))
        pythonpath = [str(self.app.root), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]
        env.update(param_env(ex.parameters))
        env.update({
            "SCANFLOW_RUN_ID": self.run_id, "SCANFLOW_NODE": node.id, "SCANFLOW_NODE_NAME": ex.name,
            "SCANFLOW_WORKFLOW": node.workflow, "SCANFLOW_APP": self.app.name,
            "SCANFLOW_APP_DIR": str(self.app.root), "SCANFLOW_STATE_DIR": str(self.app.state_path),
            "SCANFLOW_OUTPUT_DIR": str(st.output_dir), "SCANFLOW_NODE_DIR": str(st.node_dir(node.id)),
            "PYTHONPATH": os.pathsep.join(pythonpath), "PYTHONUNBUFFERED": "1",
        })
        if self.recorder is not None and mlflow_run is not None:
            env.update(self.recorder.node_env(mlflow_run, isolated=ex.isolated))
        return env

    # -- groups, end of run -------------------------------------------------------------------

    def _parent_run(self, node: PlannedNode) -> str | None:
        parent = (self.state.data.get("mlflow") or {}).get("run_id")
        for gid in node.groups:
            parent = self._group_run(gid, parent)
        return parent

    def _group_run(self, gid: str, parent: str | None) -> str:
        with self._groups_lock:
            groups = self.state.data.setdefault("groups", {})
            if gid not in groups:
                group = self.plan.groups[gid]
                groups[gid] = self.recorder.start(
                    gid.rsplit("/", 1)[-1],
                    {"scanflow.kind": "group", "scanflow.node": gid, "scanflow.workflow": group.workflow,
                     "scanflow.run_id": self.run_id}, {"workflow": group.workflow}, parent=parent)
                self.state.save()
            return groups[gid]

    def _finish(self, started: float) -> str:
        statuses = {nid: self.state.node(nid)["status"] for nid in self.plan.nodes}
        if self._cancel.is_set() and not all(s in FINISHED_OK for s in statuses.values()):
            status = "cancelled"
        elif all(s in FINISHED_OK for s in statuses.values()):
            status = "succeeded"
        else:
            status = "failed"
        now = time.time()
        if self.recorder is not None:
            self.recorder.flush()  # the node runs end before their groups and the parent
            for gid, run_id in (self.state.data.get("groups") or {}).items():
                inner = [s for nid, s in statuses.items() if gid in self.plan.nodes[nid].groups]
                self.recorder.finish(run_id, _aggregate(inner, self._cancel.is_set()))
            parent = (self.state.data.get("mlflow") or {}).get("run_id")
            if parent:
                counts = {f"nodes_{s}": float(sum(1 for v in statuses.values() if v == s)) for s in set(statuses.values())}
                self.recorder.finish(parent, status, {"duration_s": now - started, **counts},
                                     {"scanflow.resume_command": "" if status == "succeeded" else self.resume_command()})
            self.recorder.close()
        self.state.update(status=status, finished_at=now)
        return status

    # -- signals and progress -----------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any] | None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return None
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: self.cancel())
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any] | None) -> None:
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)

    def _emit(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            try:
                self.progress(event)
            except Exception:  # noqa: BLE001 - a display bug must not stop a run
                pass


def _aggregate(statuses: list[str], cancelled: bool) -> str:
    if statuses and all(s in FINISHED_OK for s in statuses):
        return "succeeded"
    return "cancelled" if cancelled else "failed"


def get_backend(name: str | Backend = "local", **kwargs: Any) -> Backend:
    """A backend by name: ``local`` (default), ``memory``, or ``ray`` (needs ``scanflow[ray]``)."""
    if isinstance(name, Backend):
        return name
    if name == "local":
        return LocalBackend(**kwargs)
    if name in ("memory", "inmemory", "in-memory"):
        return InMemoryBackend(**kwargs)
    if name == "ray":
        try:
            module = importlib.import_module("scanflow.run.ray_backend")
        except ImportError as exc:
            raise RunError(f"the ray backend is not available ({exc}): install `scanflow[ray]`") from exc
        return module.RayBackend(**kwargs)
    raise RunError(f"unknown backend {name!r}: use 'local', 'memory' or 'ray'")


def run_workflow(app: Application | str | os.PathLike[str], workflow: str | None = None,
                 backend: Backend | str | None = None, resume: str | None = None, use_cache: bool = True,
                 max_parallel: int | None = None, progress: ProgressCallback | None = None,
                 **kwargs: Any) -> RunResult:
    """Run ``workflow`` of ``app`` (default: its top-level workflows) and return the result.

    ``app`` may be an :class:`Application` or a path to an app file or folder. Extra keyword
    arguments go to :class:`Scheduler` (``track``, ``handle_signals``, ``app_arg``).
    """
    if not isinstance(app, Application):
        kwargs.setdefault("app_arg", str(app))
        app = load_app(app)
    backend = get_backend(backend) if isinstance(backend, str) else backend
    scheduler = Scheduler(app, backend, use_cache=use_cache, max_parallel=max_parallel,
                          progress=progress, **kwargs)
    return scheduler.run(workflow=workflow, resume=resume)


__all__ = ["NodeRun", "Plan", "ProgressEvent", "RunError", "RunResult", "Scheduler", "get_backend",
           "run_workflow"]
