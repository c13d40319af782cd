"""The ``ray`` backend: every node attempt is a Ray task that runs the node's command.

The scheduler stays in charge of ordering, retries, caching, resume and tracking; this backend
only moves the execution of one attempt onto the cluster. Each attempt is submitted with the
node's resources (``cpu`` -> ``num_cpus``, ``gpu`` -> ``num_gpus``, ``memory`` -> ``memory``) so
Ray places it on a node that has them, and the task runs the node's command as a subprocess on
that worker, with the node's environment, working directory, log files and timeout (the whole
process tree is killed, as with the local backend).

A cancel is a request, not an interruption: the driver files it with a small actor
(:class:`CancelRequests`) that the task checks in with before it starts the node's process and
looks at while the process runs. The task then kills the process tree and answers, and
``run_node`` returns only with that answer: when it says ``cancelled``, the tree is gone. (Ray's
own ``ray.cancel`` raises ``KeyboardInterrupt`` wherever the task happens to be, for example
inside ``subprocess.Popen`` before the process handle exists, which left the node running.)

A Ray node (or worker) that dies under a running attempt does not fail it: the attempt runs
again wherever Ray places it, up to ``node_loss_retries`` times, after a line in both logs; the
node's own ``retries`` are kept for its own failures. The node's process gets
``SCANFLOW_RAY_NODE_ID``, the id of the Ray node it runs on.

Where it runs::

    RayBackend()                          # $RAY_ADDRESS, else a Ray started on this machine
    RayBackend(address="auto")            # the cluster this machine belongs to (`ray start`)
    RayBackend(address="10.0.0.5:6379")   # that cluster, from one of its machines
    RayBackend(address="ray://head:10001", working_dir="path/to/app")   # a remote cluster

Joining checks the address first (:mod:`scanflow.run.ray_join`): an address where nothing
answers, or a ``HOST:PORT`` cluster this machine is not part of, fails within seconds with a
:class:`RayConnectionError` that names the address and the fix.

On a remote cluster the driver's files are not there: ``working_dir`` uploads the application
folder with the job, once per job (Ray's job-level runtime environment, set when the backend
starts Ray; paths under it are rewritten to the uploaded copy), node logs come back to
the driver when the worker cannot write them, the interpreter is the worker's own, and an
``isolated`` node's requirements are installed by Ray's ``pip`` runtime environment. See
``docs/deploy.md`` for KubeRay.

>>> backend = RayBackend(num_cpus=2)            # doctest: +SKIP
>>> backend.run_node(task).status               # doctest: +SKIP
'succeeded'
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

try:
    import ray
except ImportError as exc:  # the scheduler turns this into "install scanflow[ray]"
    raise ImportError(
        "the ray backend needs Ray: pip install 'scanflow[ray]' (or pip install 'ray[default]>=2.30')"
    ) from exc

from scanflow.errors import ScanflowError

from .backend import (
    CANCEL_KILLS_TREE,
    RESERVES_RESOURCES,
    SUBPROCESS,
    TIMEOUT_KILLS_TREE,
    Backend,
    NodeResult,
    NodeTask,
    attempt_banner,
)
from .ray_join import RayConnectionError, cluster_address, failed_join, joining, plan_join

log = logging.getLogger(__name__)

# Environment variables Ray sets on a worker for the resources it granted: the worker's value
# wins over the driver's copy in the task's environment.
WORKER_OWNED_ENV = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "NEURON_RT_VISIBLE_CORES")

# Seconds a cancelled task has (beyond kill_grace) to kill its tree and answer before the
# driver kills its Ray worker instead (the node's main process dies with it: PR_SET_PDEATHSIG).
CANCEL_ANSWER_TIMEOUT = 60.0

__all__ = ["CancelRequests", "RayBackend", "RayConnectionError", "RayJobError", "execute_command"]


class RayJobError(ScanflowError, RuntimeError):
    """The Ray job this backend joins cannot carry what it was asked to ship (``working_dir``)."""


class RayBackend(Backend):
    """Run node attempts as Ray tasks (``pip install 'scanflow[ray]'``).

    Parameters
    ----------
    address : str, optional
        ``None``: join ``$RAY_ADDRESS``, else start Ray on this machine; ``"auto"``: the
        cluster this machine joined with ``ray start``; ``"HOST:PORT"``: the cluster whose head
        (GCS) is there, from one of its machines; ``"ray://HOST:10001"``: a cluster through
        Ray Client, from anywhere.
    num_cpus : int, optional
        CPUs of a Ray instance started by this backend (default: all).
    working_dir : str or Path, optional
        Folder uploaded to the workers (Ray ``runtime_env["working_dir"]``): use the
        application folder when the cluster does not share the driver's file system.
    runtime_env : dict, optional
        Extra Ray runtime environment for every task (``env_vars``, ``pip``, ``conda``...).
    init_kwargs : dict, optional
        Passed to ``ray.init`` (``include_dashboard``, ``_node_ip_address``...).
    allow_infeasible : bool
        Submit nodes that no current Ray node can hold (an autoscaling cluster adds one);
        by default such a node fails at once with the resources it asked for.
    kill_grace : float
        Seconds between SIGTERM and SIGKILL when a node times out or is cancelled.
    node_loss_retries : int
        Times an attempt runs again when the Ray node or worker running it dies (these do not
        count against the node's ``retries``).
    poll_interval : float
        How often the driver checks for a cancel request while a node runs.
    """

    name = "ray"
    supports = frozenset({SUBPROCESS, TIMEOUT_KILLS_TREE, CANCEL_KILLS_TREE, RESERVES_RESOURCES})

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 working_dir: str | os.PathLike[str] | None = None,
                 runtime_env: dict[str, Any] | None = None, init_kwargs: dict[str, Any] | None = None,
                 allow_infeasible: bool = False, kill_grace: float = 5.0, node_loss_retries: int = 2,
                 poll_interval: float = 0.2):
        self.address = address
        self.num_cpus = num_cpus
        self.working_dir = working_dir
        self.runtime_env = runtime_env
        self.init_kwargs = init_kwargs
        self.allow_infeasible = allow_infeasible
        self.kill_grace = kill_grace
        self.node_loss_retries = node_loss_retries
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._started_ray = False
        self._remote_fn = None
        self._cancels: Any = None  # the CancelRequests actor
        self._capacity: tuple[float, list[dict[str, float]]] | None = None
        self._task_env: dict[str, Any] = {}  # runtime env every task repeats (the job lacks it)

    # -- connection -----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect to (or start) Ray once; later calls do nothing."""
        with self._lock:
            if self._remote_fn is not None:
                return
            if not ray.is_initialized():
                self._init_ray()
                self._task_env = {}  # the job carries runtime_env and working_dir
            elif self.working_dir is not None:
                raise RayJobError(
                    "RayBackend(working_dir=...) needs to start Ray itself (Ray uploads a folder only "
                    "for a whole job): call ray.shutdown() first, or pass "
                    "runtime_env={'working_dir': ...} to your own ray.init")
            else:
                self._task_env = dict(self.runtime_env or {})  # Ray was started without them
            if self._remote():
                # Workers of a remote cluster may not have Scanflow: ship the task function by value.
                ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
            self._cancels = ray.remote(num_cpus=0, max_restarts=0, **_on_this_node())(CancelRequests).remote()
            self._remote_fn = ray.remote(max_retries=0)(execute_command)  # the scheduler retries

    def job_runtime_env(self) -> dict[str, Any]:
        """The runtime environment of the whole Ray job: ``runtime_env`` and ``working_dir``.

        Set once, when the backend starts Ray, so that Ray packages and uploads the folder once
        per run, not per task (Ray accepts a local folder only at the job level anyway)."""
        env = dict(self.runtime_env or {})
        if self.working_dir is not None:
            env["working_dir"] = str(Path(self.working_dir).resolve())
        return env

    def _remote(self) -> bool:
        """Whether the workers may be other machines (a cluster joined, or a folder to upload)."""
        return self.working_dir is not None or cluster_address(self.address) not in (None, "auto")

    def _init_ray(self) -> None:
        """Start Ray here, or join the cluster at the address (checked first: see ray_join)."""
        target = cluster_address(self.address)
        kwargs: dict[str, Any] = {"log_to_driver": False}
        if target is None:
            kwargs.update(include_dashboard=False, num_cpus=self.num_cpus)
            join = None
        else:
            join = plan_join(target)
            kwargs.update(join.init_kwargs())
        if self.job_runtime_env():
            kwargs["runtime_env"] = self.job_runtime_env()
        kwargs.update(self.init_kwargs or {})
        for attempt in (1, 2):
            try:
                with joining(join) if join else contextlib.nullcontext():
                    ray.init(address=join.address if join else None, **kwargs)
                break
            except ConnectionAbortedError as exc:
                # Ray Client starts a server process per connection on the head, and that start
                # fails now and then (it forks from a process full of gRPC threads): once more.
                if join is not None and attempt == 1 and join.address.startswith("ray://"):
                    log.warning("the Ray Client server at %s failed to start a session (%s); trying again",
                                join.address, exc)
                    ray.shutdown()
                    continue
                if join is None:
                    raise
                raise failed_join(target, exc) from exc
            except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
                if join is None:
                    raise
                raise failed_join(target, exc) from exc
        self._started_ray = True

    def close(self) -> None:
        """Stop this backend's actor; shut Ray down if this backend started it."""
        with self._lock:
            if self._cancels is not None and ray.is_initialized():
                ray.kill(self._cancels)
            if self._started_ray and ray.is_initialized():
                ray.shutdown()
            self._started_ray = False
            self._remote_fn = None
            self._cancels = None

    # -- one node -------------------------------------------------------------------------------

    def task_options(self, task: NodeTask) -> dict[str, Any]:
        """The ``.options(...)`` of the Ray task for ``task``: resources and runtime environment."""
        res = task.resources or {}
        options: dict[str, Any] = {"num_cpus": float(res.get("cpu") or 1)}
        if res.get("gpu"):
            options["num_gpus"] = float(res["gpu"])
        if res.get("memory"):
            options["memory"] = int(res["memory"])
        runtime_env = dict(self._task_env)  # the job's own runtime env is inherited
        if task.requirements and self._needs_pip(task):
            runtime_env["pip"] = list(task.requirements)
        if runtime_env:
            options["runtime_env"] = runtime_env
        options["name"] = f"scanflow:{task.node_id}"
        return options

    def _needs_pip(self, task: NodeTask) -> bool:
        # On this machine the scheduler already built the isolated venv that the command uses;
        # a remote worker has to build its own.
        return self._remote() and bool(getattr(task.node, "isolated", False))

    def infeasible(self, options: dict[str, Any]) -> str | None:
        """Why no Ray node can ever hold a task with these options (``None``: one can)."""
        now = time.monotonic()
        if self._capacity is None or now - self._capacity[0] > 10:
            nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
            self._capacity = (now, nodes)
        nodes = self._capacity[1]
        ask = {"CPU": options.get("num_cpus", 0), "GPU": options.get("num_gpus", 0),
               "memory": options.get("memory", 0)}
        if any(all(node.get(k, 0) >= v for k, v in ask.items() if v) for node in nodes):
            return None
        biggest = {k: max((node.get(k, 0) for node in nodes), default=0) for k in ask}
        wanted = ", ".join(_amount(k, v) for k, v in ask.items() if v)
        have = ", ".join(_amount(k, v) for k, v in biggest.items())
        return (f"no Ray node can run it: it asks for {wanted}, the largest node has {have}. "
                "Lower the node's resources, add a bigger node, or use "
                "RayBackend(allow_infeasible=True) on an autoscaling cluster")

    def run_node(self, task: NodeTask) -> NodeResult:
        self.open()
        options = self.task_options(task)
        started = time.time()
        for path in (task.stdout_path, task.stderr_path):
            path.parent.mkdir(parents=True, exist_ok=True)  # a worker on this machine writes there
        if not self.allow_infeasible:
            why = self.infeasible(options)
            if why:
                _append(task.stderr_path, f"scanflow: node {task.node_id}: {why}\n")
                return NodeResult("failed", None, started, time.time(), why)
        out = self._submit(task, options, started)
        if isinstance(out, NodeResult):
            return out
        for name, path in (("stdout_text", task.stdout_path), ("stderr_text", task.stderr_path)):
            if out.get(name):  # the worker could not write the driver's log files (remote cluster)
                _append(path, out[name])
        return NodeResult(out["status"], out["returncode"], out["started_at"], out["finished_at"], out["error"])

    def _submit(self, task: NodeTask, options: dict[str, Any], started: float) -> dict[str, Any] | NodeResult:
        """Run the attempt as a Ray task; again, elsewhere, when the Ray node under it dies."""
        for run in range(1, self.node_loss_retries + 2):
            key = f"{task.run_id}/{task.node_id}/{task.attempt}/{uuid.uuid4().hex}"
            ref = self._remote_fn.options(**options).remote(self._payload(task, options, key))
            try:
                return self._wait(task, ref, key, started)
            except NODE_LOST as exc:
                lost = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
                if run > self.node_loss_retries or task.cancel.is_set():
                    error = f"the Ray node running it was lost {run} times (last: {lost})"
                    break
                self._capacity = None  # without the lost node, the task may fit nowhere: never wait for that
                why = None if self.allow_infeasible else self.infeasible(options)
                if why:
                    error = f"the Ray node running it was lost ({lost}), and {why}"
                    break
                for path in (task.stdout_path, task.stderr_path):
                    _append(path, f"\n----- scanflow: the Ray node running attempt {task.attempt} was lost "
                                  f"({lost}); running it again -----\n")
            except ray.exceptions.RayError as exc:
                error = f"the Ray task failed: {type(exc).__name__}: {exc}".strip()
                break
        _append(task.stderr_path, f"scanflow: node {task.node_id}: {error}\n")
        return NodeResult("failed", None, started, time.time(), error.splitlines()[0])

    def _payload(self, task: NodeTask, options: dict[str, Any], key: str) -> dict[str, Any]:
        """What :func:`execute_command` gets: the resolved node and how to watch for a cancel."""
        return {
            "command": list(task.command), "workdir": str(task.workdir), "env": dict(task.env),
            "stdout": str(task.stdout_path), "stderr": str(task.stderr_path),
            "timeout": task.timeout, "kill_grace": self.kill_grace,
            "banner": attempt_banner(task.attempt) if task.attempt > 1 else "",
            "driver_python": sys.executable, "use_worker_python": "pip" in options.get("runtime_env", {}),
            "driver_dir": str(Path(self.working_dir).resolve()) if self.working_dir is not None else None,
            "cancels": self._cancels, "key": key, "poll_interval": self.poll_interval,
        }

    def _wait(self, task: NodeTask, ref: Any, key: str, started: float) -> dict[str, Any] | NodeResult:
        """The task's answer; on a cancel request, the answer of the task that stopped its node."""
        while True:
            done, _ = ray.wait([ref], timeout=self.poll_interval)
            if done:
                self._cancels.forget.remote(key)
                return ray.get(ref)
            if task.cancel.is_set():
                return self._cancel(ref, key, started)

    def _cancel(self, ref: Any, key: str, started: float) -> dict[str, Any] | NodeResult:
        try:
            had_started = ray.get(self._cancels.cancel.remote(key), timeout=30)
        except ray.exceptions.RayError:
            had_started = None  # the actor is gone: only killing the worker is left
        if had_started is False:
            ray.cancel(ref)  # still queued: it would check in, see the request and start nothing
            return NodeResult("cancelled", None, started, time.time(),
                              "stopped by a cancel request before it started")
        if had_started:
            done, _ = ray.wait([ref], timeout=self.kill_grace + CANCEL_ANSWER_TIMEOUT)
            if done:  # the task killed the process tree, then answered
                self._cancels.forget.remote(key)
                return ray.get(ref)
        ray.cancel(ref, force=True)
        ray.wait([ref], timeout=30)
        return NodeResult("cancelled", None, started, time.time(),
                          "stopped by a cancel request: the Ray task did not answer, so its worker was "
                          "killed (the node's main process with it; its own children may survive)")


# What a dead Ray node or worker raises for the tasks it ran (not the node's own failures,
# which the task reports as a result, nor a cancel, which never waits on the task's result).
NODE_LOST = (ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError)


def _amount(resource: str, value: float) -> str:
    """``GPU=4``, ``memory=2 GiB``: a Ray resource as the error messages show it."""
    return f"memory={value / 2**30:.3g} GiB" if resource == "memory" else f"{resource}={value:g}"


def _on_this_node() -> dict[str, Any]:
    """Ray options that keep an actor on the driver's node when it can (soft affinity): the
    driver's actor then outlives any worker node."""
    try:
        # lazy: Ray is an extra, imported only by this backend
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - Ray Client or an older Ray: Ray's own placement
        return {}
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True)} if here else {}


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(text)


class CancelRequests:
    """Cancel requests for the running nodes, shared by the driver and the tasks (a Ray actor).

    The driver files a request with :meth:`cancel`; a task checks in with :meth:`check_in`
    before it starts the node's process, and looks with :meth:`is_cancelled` while it runs.
    The actor handles one call at a time, so a request comes either before the check-in (the
    process is never started) or after it (the task kills the process tree, then answers).
    """

    def __init__(self) -> None:
        self._state: dict[str, str] = {}

    def check_in(self, key: str) -> bool:
        """Whether the task may start its process (False: it was cancelled while queued)."""
        if self._state.get(key) == "cancelled":
            return False
        self._state[key] = "started"
        return True

    def cancel(self, key: str) -> bool:
        """File a cancel request; returns whether the task had already started its process."""
        had_started = self._state.get(key) == "started"
        self._state[key] = "cancelled"
        return had_started

    def is_cancelled(self, key: str) -> bool:
        return self._state.get(key) == "cancelled"

    def forget(self, key: str) -> None:
        self._state.pop(key, None)


# -- what runs on the worker (standard library, psutil and ray only: shipped by value if needed) --

def execute_command(p: dict[str, Any]) -> dict[str, Any]:
    """Run one node attempt on a Ray worker; returns its status and timing.

    Runs ``p["command"]`` in its own session with ``p["env"]`` in ``p["workdir"]``, appending to
    the log files. On timeout or on a cancel request (see :class:`CancelRequests`) the whole
    process tree is terminated, then killed after ``kill_grace`` seconds, before it returns.
    """
    watch = _CancelWatch(p.get("cancels"), p.get("key"), float(p.get("poll_interval") or 0.2))
    command, env, workdir = _localize(p)
    stdout, stderr = p["stdout"], p["stderr"]
    captured = None
    if not (os.path.isdir(os.path.dirname(stdout)) and os.access(os.path.dirname(stdout), os.W_OK)):
        captured = tempfile.mkdtemp(prefix="scanflow-logs-")  # send the logs back to the driver
        stdout, stderr = os.path.join(captured, "stdout.log"), os.path.join(captured, "stderr.log")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError:
        workdir = tempfile.mkdtemp(prefix="scanflow-node-")
    started = time.time()
    with open(stdout, "ab") as out, open(stderr, "ab") as err:
        if p["banner"]:
            for f in (out, err):
                f.write(p["banner"].encode())
                f.flush()
        if not watch.check_in():
            result = {"status": "cancelled", "returncode": None,
                      "error": "stopped by a cancel request before it started"}
        else:
            result = _run_process(command, env, workdir, out, err, p, watch)
    result.update(started_at=started, finished_at=time.time())
    if captured:
        _return_logs(result, stdout, stderr, captured)
    return result


def _localize(p: dict[str, Any]) -> tuple[list[str], dict[str, str], str]:
    """The command, environment and workdir as seen on this worker."""
    command, env, workdir = list(p["command"]), dict(p["env"]), p["workdir"]
    here = os.getcwd()
    driver_dir = p.get("driver_dir")
    if driver_dir:  # a working_dir upload: the driver's paths point into the uploaded copy
        def moved(s: str) -> str:
            return here + s[len(driver_dir):] if s == driver_dir or s.startswith(driver_dir + os.sep) else s
        command = [moved(a) for a in command]
        env = {k: moved(v) for k, v in env.items()}
        workdir = moved(workdir)
    if command and command[0] == p["driver_python"] and (p["use_worker_python"] or not os.path.exists(command[0])):
        command[0] = sys.executable
    for key in WORKER_OWNED_ENV:
        if key in os.environ:
            env[key] = os.environ[key]
        else:
            env.pop(key, None)
    env.pop("SCANFLOW_RAY_NODE_ID", None)
    if ray.is_initialized():  # in a Ray worker (outside one, asking would start Ray)
        env["SCANFLOW_RAY_NODE_ID"] = ray.get_runtime_context().get_node_id()
    return command, env, workdir


def _run_process(command: list[str], env: dict[str, str], workdir: str, out: Any, err: Any,
                 p: dict[str, Any], watch: _CancelWatch) -> dict[str, Any]:
    """Start the node's process, watch it to its end (or timeout, or cancel) and report it."""
    wrapper = _death_signal_wrapper(command, env)
    try:
        proc = subprocess.Popen(wrapper + command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True,
                                preexec_fn=None if wrapper else _die_with_worker())
    except OSError as exc:
        err.write(f"scanflow: cannot start {command[0]!r} on {os.uname().nodename}: {exc}\n".encode())
        return {"status": "failed", "returncode": None, "error": f"cannot start the node: {exc}"}
    deadline = time.time() + p["timeout"] if p["timeout"] else None
    exited = _ExitWatch(proc)
    try:
        while proc.poll() is None:
            if deadline is not None and time.time() >= deadline:
                _kill_tree(proc, p["kill_grace"])
                return {"status": "timeout", "returncode": proc.returncode,
                        "error": f"timed out after {p['timeout']:g} s; the process tree was killed"}
            if watch.cancelled():
                _kill_tree(proc, p["kill_grace"])
                return {"status": "cancelled", "returncode": proc.returncode,
                        "error": "stopped by a cancel request; the process tree was killed"}
            exited.wait(0.1 if deadline is None else max(0.001, min(0.1, deadline - time.time())))
    except BaseException:  # whatever stops this task (a forced ray.cancel...) ends the tree first
        _kill_tree(proc, p["kill_grace"])
        raise
    finally:
        exited.close()
    code = proc.returncode
    return {"status": "succeeded" if code == 0 else "failed", "returncode": code,
            "error": None if code == 0 else f"exited with code {code}"}


_SETPRIV: list[str | None] = []  # [path or None] once looked up on this worker


def _death_signal_wrapper(command: list[str], env: dict[str, str]) -> list[str]:
    """``setpriv --pdeathsig KILL --`` (util-linux) when it is there and the command can start:
    the node dies with its worker as with :func:`_die_with_worker`, but without a
    ``preexec_fn``, which makes CPython fork the whole worker (~7 ms for a 100 MB worker)
    instead of vfork-ing it (~0.2 ms). ``[]``: start the command as it is."""
    if not _SETPRIV:
        found = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        if found is not None:
            try:
                ok = subprocess.run([found, "--pdeathsig", "KILL", "--", "true"], capture_output=True,
                                    timeout=10).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            found = found if ok else None
        _SETPRIV.append(found)
    if _SETPRIV[0] is None or not command or shutil.which(command[0], path=env.get("PATH")) is None:
        return []  # a command that cannot start fails in Popen, with its own error
    return [_SETPRIV[0], "--pdeathsig", "KILL", "--"]


class _ExitWatch:
    """Waits for a process to exit and wakes up the moment it does (a pidfd on Linux), where
    ``Popen.wait(timeout)`` sleeps in growing steps of up to 50 ms."""

    def __init__(self, proc: Any):
        self.proc = proc
        try:
            self.fd: int | None = os.pidfd_open(proc.pid)
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)
        except (AttributeError, OSError):
            self.fd = None

    def wait(self, seconds: float) -> None:
        if self.fd is not None:
            self.poller.poll(seconds * 1000)
            return
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _die_with_worker() -> Any:
    """A ``preexec_fn`` that makes the node's process die with its Ray worker (Linux), e.g. when
    the worker is killed; loaded before the fork, so the child makes only one system call."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _CancelWatch:
    """The task's side of :class:`CancelRequests`: asks at most every ``poll`` seconds.

    It waits on the answers as Python futures, never with ``ray.get`` / ``ray.wait``: a task
    blocked in those lends its CPUs to other tasks, which would break the node's reservation.
    """

    def __init__(self, cancels: Any, key: str | None, poll: float):
        self.cancels, self.key, self.poll = cancels, key, poll
        self._pending: Any = None
        self._next = 0.0
        # Asked now, answered while the task opens its log files: one round trip less to wait.
        self._check_in = self._call("check_in") if cancels is not None else None

    def _call(self, method: str) -> Any:
        return getattr(self.cancels, method).remote(self.key).future()

    def _answer(self, future: Any, timeout: float | None = None) -> bool | None:
        try:
            return bool(future.result(timeout=timeout))
        except Exception:  # noqa: BLE001 - the actor is gone (or silent): stop asking it
            self.cancels = None
            return None

    def check_in(self) -> bool:
        if self.cancels is None:
            return True
        allowed = self._answer(self._check_in, timeout=60)
        if allowed is False:
            self.cancels.forget.remote(self.key)  # the driver no longer waits for this task
        return allowed is not False

    def cancelled(self) -> bool:
        if self.cancels is None:
            return False
        if self._pending is None:
            if time.monotonic() < self._next:
                return False
            self._next = time.monotonic() + self.poll
            self._pending = self._call("is_cancelled")
        if not self._pending.done():
            return False
        answer, self._pending = self._answer(self._pending), None
        return bool(answer)


def _return_logs(result: dict[str, Any], stdout: str, stderr: str, captured: str) -> None:
    for key, path in (("stdout_text", stdout), ("stderr_text", stderr)):
        with open(path, errors="replace") as f:
            result[key] = f.read()
    shutil.rmtree(captured, ignore_errors=True)


def _kill_tree(proc: Any, grace: float) -> None:
    """SIGTERM the session of ``proc`` and its descendants, SIGKILL what is left after ``grace``."""
    try:
        # lazy: psutil may be missing on a Ray worker (caught below)
        import psutil

        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - psutil missing or the process already gone
        procs = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for q in procs:
            try:
                q.send_signal(sig)
            except Exception:  # noqa: BLE001
                pass
        if sig == signal.SIGTERM:
            deadline = time.time() + grace
            while time.time() < deadline and proc.poll() is None:
                time.sleep(0.05)
            if proc.poll() is not None and not any(_alive(q) for q in procs):
                break
    proc.wait()


def _alive(q: Any) -> bool:
    try:
        return q.is_running() and q.status() != "zombie"
    except Exception:  # noqa: BLE001
        return False
