"""The ``ray`` backend: every node attempt is a Ray task that runs the node's command.

The scheduler stays in charge of ordering, retries, caching, resume and tracking; this backend
only moves the execution of one attempt onto the cluster. Each attempt is submitted with the
node's resources (``cpu`` -> ``num_cpus``, ``gpu`` -> ``num_gpus``, ``memory`` -> ``memory``) so
Ray places it on a node that has them, and the task runs the node's command as a subprocess on
that worker, with the node's environment, working directory, log files and timeout (the whole
process tree is killed, as with the local backend).

Where it runs::

    RayBackend()                          # a Ray instance on this machine (started if needed)
    RayBackend(address="auto")            # the cluster this machine belongs to (`ray start`)
    RayBackend(address="ray://head:10001", working_dir="path/to/app")   # a remote cluster

On a remote cluster the driver's files are not there: ``working_dir`` uploads the application
folder with the job (paths under it are rewritten to the uploaded copy), node logs come back to
the driver when the worker cannot write them, the interpreter is the worker's own, and an
``isolated`` node's requirements are installed by Ray's ``pip`` runtime environment. See
``docs/deploy.md`` for KubeRay.

>>> backend = RayBackend(num_cpus=2)            # doctest: +SKIP
>>> backend.run_node(task).status               # doctest: +SKIP
'succeeded'
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

try:
    import ray
except ImportError as exc:  # the scheduler turns this into "install scanflow[ray]"
    raise ImportError(
        "the ray backend needs Ray: pip install 'scanflow[ray]' (or pip install 'ray[default]>=2.30')"
    ) from exc

from .backend import Backend, NodeResult, NodeTask

# Environment variables Ray sets on a worker for the resources it granted: the worker's value
# wins over the driver's copy in the task's environment.
WORKER_OWNED_ENV = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "NEURON_RT_VISIBLE_CORES")


class RayBackend(Backend):
    """Run node attempts as Ray tasks (``pip install 'scanflow[ray]'``).

    Parameters
    ----------
    address : str, optional
        ``None``: connect to ``$RAY_ADDRESS`` or start Ray on this machine; ``"auto"``: the
        local cluster; ``"ray://HOST:10001"``: a remote cluster through Ray Client.
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
    poll_interval : float
        How often the driver checks for a cancel request while a node runs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 working_dir: str | os.PathLike[str] | None = None,
                 runtime_env: dict[str, Any] | None = None, init_kwargs: dict[str, Any] | None = None,
                 allow_infeasible: bool = False, kill_grace: float = 5.0, poll_interval: float = 0.2):
        self.address = address
        self.num_cpus = num_cpus
        self.working_dir = working_dir
        self.runtime_env = runtime_env
        self.init_kwargs = init_kwargs
        self.allow_infeasible = allow_infeasible
        self.kill_grace = kill_grace
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._started_ray = False
        self._remote_fn = None
        self._capacity: tuple[float, list[dict[str, float]]] | None = None

    # -- connection -----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect to (or start) Ray once; later calls do nothing."""
        with self._lock:
            if self._remote_fn is not None:
                return
            if not ray.is_initialized():
                kwargs: dict[str, Any] = {"log_to_driver": False}
                local = self.address is None and not os.environ.get("RAY_ADDRESS")
                if local:
                    kwargs.update(include_dashboard=False, num_cpus=self.num_cpus)
                kwargs.update(self.init_kwargs or {})
                try:
                    ray.init(address=self.address, **kwargs)
                except ConnectionError as exc:
                    raise ConnectionError(
                        f"cannot reach the Ray cluster at {self.address or os.environ.get('RAY_ADDRESS')!r} ({exc}): "
                        "start it with `ray start --head`, or check the address (ray://HOST:10001 for Ray Client)"
                    ) from exc
                self._started_ray = True
            if self.working_dir is not None or self.address not in (None, "auto"):
                # Workers of a remote cluster may not have Scanflow: ship the task function by value.
                ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
            self._remote_fn = ray.remote(max_retries=0)(execute_command)  # the scheduler retries

    def close(self) -> None:
        """Shut Ray down if this backend started it."""
        with self._lock:
            if self._started_ray and ray.is_initialized():
                ray.shutdown()
            self._started_ray = False
            self._remote_fn = None

    # -- one node -------------------------------------------------------------------------------

    def task_options(self, task: NodeTask) -> dict[str, Any]:
        """The ``.options(...)`` of the Ray task for ``task``: resources and runtime environment."""
        res = task.resources or {}
        options: dict[str, Any] = {"num_cpus": float(res.get("cpu") or 1)}
        if res.get("gpu"):
            options["num_gpus"] = float(res["gpu"])
        if res.get("memory"):
            options["memory"] = int(res["memory"])
        runtime_env = dict(self.runtime_env or {})
        if self.working_dir is not None:
            runtime_env["working_dir"] = str(Path(self.working_dir).resolve())
        if task.requirements and self._needs_pip(task):
            runtime_env["pip"] = list(task.requirements)
        if runtime_env:
            options["runtime_env"] = runtime_env
        options["name"] = f"scanflow:{task.node_id}"
        return options

    def _needs_pip(self, task: NodeTask) -> bool:
        # On this machine the scheduler already built the isolated venv that the command uses;
        # a remote worker has to build its own.
        remote = self.working_dir is not None or self.address not in (None, "auto")
        return remote and bool(getattr(task.node, "isolated", False))

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
        wanted = ", ".join(f"{k}={v:g}" for k, v in ask.items() if v)
        have = ", ".join(f"{k}={v:g}" for k, v in biggest.items())
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
        payload = {
            "command": list(task.command), "workdir": str(task.workdir), "env": dict(task.env),
            "stdout": str(task.stdout_path), "stderr": str(task.stderr_path),
            "timeout": task.timeout, "attempt": task.attempt, "kill_grace": self.kill_grace,
            "driver_python": sys.executable, "use_worker_python": "pip" in options.get("runtime_env", {}),
            "driver_dir": str(Path(self.working_dir).resolve()) if self.working_dir is not None else None,
        }
        ref = self._remote_fn.options(**options).remote(payload)
        try:
            while True:
                done, _ = ray.wait([ref], timeout=self.poll_interval)
                if done:
                    break
                if task.cancel.is_set():
                    ray.cancel(ref)  # raises KeyboardInterrupt in the task, which kills the tree
                    try:
                        ray.get(ref, timeout=self.kill_grace + 10)
                    except Exception:  # noqa: BLE001 - cancelled tasks raise on get
                        pass
                    return NodeResult("cancelled", None, started, time.time(), "stopped by a cancel request")
            out = ray.get(ref)
        except ray.exceptions.RayError as exc:
            error = f"the Ray task failed: {type(exc).__name__}: {exc}".strip()
            _append(task.stderr_path, f"scanflow: node {task.node_id}: {error}\n")
            return NodeResult("failed", None, started, time.time(), error.splitlines()[0])
        for key, path in (("stdout_text", task.stdout_path), ("stderr_text", task.stderr_path)):
            if out.get(key):  # the worker could not write the driver's log files (remote cluster)
                _append(path, out[key])
        return NodeResult(out["status"], out["returncode"], out["started_at"], out["finished_at"], out["error"])


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(text)


# -- what runs on the worker (standard library and psutil only: shipped by value if needed) -----

def execute_command(p: dict[str, Any]) -> dict[str, Any]:
    """Run one node attempt on a Ray worker; returns its status and timing.

    Runs ``p["command"]`` in its own session with ``p["env"]`` in ``p["workdir"]``, appending to
    the log files; on timeout or cancel (``KeyboardInterrupt`` from ``ray.cancel``) the whole
    process tree is terminated, then killed after ``kill_grace`` seconds.
    """
    import ctypes
    import signal
    import subprocess
    import tempfile

    command, env = list(p["command"]), dict(p["env"])
    workdir, stdout, stderr = p["workdir"], p["stdout"], p["stderr"]
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

    captured = None
    if not (os.path.isdir(os.path.dirname(stdout)) and os.access(os.path.dirname(stdout), os.W_OK)):
        captured = tempfile.mkdtemp(prefix="scanflow-logs-")  # send the logs back to the driver
        stdout, stderr = os.path.join(captured, "stdout.log"), os.path.join(captured, "stderr.log")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError:
        workdir = tempfile.mkdtemp(prefix="scanflow-node-")

    try:  # loaded before the fork: the child only makes one system call
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None

    def child_setup() -> None:
        if prctl is not None:  # die with the Ray worker (Linux), e.g. when the job is stopped
            prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    result: dict[str, Any] = {"status": "failed", "returncode": None, "error": None}
    started = time.time()
    with open(stdout, "ab") as out, open(stderr, "ab") as err:
        if p["attempt"] > 1:
            banner = f"\n----- scanflow: attempt {p['attempt']} -----\n".encode()
            out.write(banner)
            err.write(banner)
            out.flush()
            err.flush()
        try:
            proc = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True,
                                    preexec_fn=child_setup)
        except OSError as exc:
            err.write(f"scanflow: cannot start {command[0]!r} on {os.uname().nodename}: {exc}\n".encode())
            result["error"] = f"cannot start the node: {exc}"
        else:
            deadline = started + p["timeout"] if p["timeout"] else None
            try:
                # Short waits: ray.cancel interrupts Python code, not a blocking waitpid().
                while proc.poll() is None and (deadline is None or time.time() < deadline):
                    try:
                        proc.wait(timeout=0.1 if deadline is None else max(0.001, min(0.1, deadline - time.time())))
                    except subprocess.TimeoutExpired:
                        pass
            except KeyboardInterrupt:  # ray.cancel
                _kill_tree(proc, p["kill_grace"])
                raise
            if proc.returncode is None:
                _kill_tree(proc, p["kill_grace"])
                result.update(returncode=proc.returncode, status="timeout",
                              error=f"timed out after {p['timeout']:g} s; the process tree was killed")
            else:
                code = proc.returncode
                result.update(returncode=code, status="succeeded" if code == 0 else "failed",
                              error=None if code == 0 else f"exited with code {code}")
    result.update(started_at=started, finished_at=time.time())
    if captured:
        import shutil

        for key, path in (("stdout_text", stdout), ("stderr_text", stderr)):
            with open(path, errors="replace") as f:
                result[key] = f.read()
        shutil.rmtree(captured, ignore_errors=True)
    return result


def _kill_tree(proc: Any, grace: float) -> None:
    """SIGTERM the session of ``proc`` and its descendants, SIGKILL what is left after ``grace``."""
    import signal

    try:
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
