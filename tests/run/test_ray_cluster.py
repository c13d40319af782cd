"""The ray backend on a Ray cluster of several nodes, simulated on this machine.

One cluster (``ray.cluster_utils.Cluster``) serves the module, every node bound to 127.0.0.1,
without dashboards, with 80 MB object stores::

    head     1 CPU, memory 4 GiB             Ray Client server on
    worker   1 CPU, 1 GPU (declared), memory 1 GiB

``memory`` is only Ray's bookkeeping here, so a node asking for ``memory: 2Gi`` can run on the
head only and one asking for ``gpu: 1`` on the worker only: each test knows where each node
must land, and each node records where it did (``SCANFLOW_RAY_NODE_ID``). The drivers are
separate processes, as on a real cluster: ``scanflow run ... --backend ray`` with
``--address HOST:PORT``, ``RAY_ADDRESS`` or ``ray://`` (Ray Client), or a script with
``RayBackend(address=...)``. The test that loses a worker runs last: it changes the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

import scanflow
from scanflow.run import list_runs
from scanflow.track import sync_tracking

pytestmark = pytest.mark.ray

GiB = 2**30
NODE = {"node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}
# Ray's own processes on the head (its Ray Client server) rewrite 127.0.0.1 to the outward IP
# unless this is off, as the driver's ray_join does for the driver.
KEEP_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass
class Sim:
    """The simulated cluster and how to reach it."""

    cluster: Any
    temp_dir: str
    client_port: int
    gpu_worker: Any  # the worker with a GPU (the last test replaces it)

    @property
    def address(self) -> str:
        return self.cluster.address  # 127.0.0.1:PORT, the GCS

    @property
    def client_address(self) -> str:
        return f"ray://127.0.0.1:{self.client_port}"

    @property
    def head_id(self) -> str:
        return self.cluster.head_node.node_id

    def add_gpu_worker(self) -> Any:
        with _environ(KEEP_LOOPBACK):
            return self.cluster.add_node(num_cpus=1, num_gpus=1, memory=GiB, temp_dir=self.temp_dir, **NODE)


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sim():
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    temp_dir = tempfile.mkdtemp(prefix="sfray-", dir="/tmp")  # short: Ray's socket paths
    client_port = _free_port()
    cluster = None
    try:
        with _environ(KEEP_LOOPBACK), _ray_current_cluster_kept():
            cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
                "num_cpus": 1, "memory": 4 * GiB, "include_dashboard": False,
                "ray_client_server_port": client_port, "temp_dir": temp_dir, **NODE})
        simulated = Sim(cluster, temp_dir, client_port, None)
        simulated.gpu_worker = simulated.add_gpu_worker()
        yield simulated
    finally:
        if cluster is not None:
            _stop(cluster)
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextlib.contextmanager
def _ray_current_cluster_kept():
    """Ray records a new head as "the" cluster of this machine, for any ``ray.init()`` here to
    join: put back what was recorded before, so that nothing else finds this test cluster."""
    from ray._common.utils import get_ray_address_file

    path = Path(get_ray_address_file(None))
    before = path.read_text() if path.exists() else None
    try:
        yield
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(before)


def _stop(cluster) -> None:
    """Every node of ``cluster``, stopped (not ``Cluster.shutdown``, which also resets the
    internal KV client of this process, that a Ray started by other tests may use)."""
    for node in list(cluster.worker_nodes):
        cluster.remove_node(node)  # gracefully: a raylet killed at once leaves its agents behind
    if cluster.head_node is not None:
        cluster.remove_node(cluster.head_node)


def _env(drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """The drivers' environment: this Scanflow, wide lines, no cluster but the one given."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", *KEEP_LOOPBACK, *drop)}
    src = str(Path(scanflow.__file__).resolve().parents[1])
    env.update(PYTHONPATH=os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])]),
               COLUMNS="400", PYTHONUNBUFFERED="1", **extra)
    return env


def scanflow_cli(*args: str, timeout: float = 180, drop: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scanflow.cli", *args], capture_output=True, text=True,
                          env=_env(drop, **env), timeout=timeout)


def _wait_for(predicate, timeout: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# Each node writes where it ran: the Ray node, and the GPUs Ray gave it.
WHERE = """
    import json, os, sys
    tag = sys.argv[sys.argv.index("--tag") + 1]
    where = {"node": os.environ.get("SCANFLOW_RAY_NODE_ID"), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
    with open(os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], tag + ".json"), "w") as f:
        json.dump(where, f)
"""


def _where(run_dir: Path, tag: str) -> dict[str, Any]:
    return json.loads((run_dir / "outputs" / f"{tag}.json").read_text())


def _only_run(app):
    runs = list_runs(app.state_path)
    assert len(runs) == 1, [r.run_id for r in runs]
    return runs[0]


# -- joining, and placement by resources ----------------------------------------------------------

def test_a_driver_joins_a_loopback_head_by_address_and_nodes_land_where_their_resources_are(sim, make_app):
    app = make_app("""
        name: placement
        workflows:
          - name: main
            nodes:
              - {name: on_gpu, script: where.py, parameters: {tag: on_gpu}, resources: {gpu: 1}}
              - {name: big_memory, script: where.py, parameters: {tag: big_memory}, resources: {memory: 2Gi}}
    """, {"where.py": WHERE})
    done = scanflow_cli("run", str(app.root), "--backend", "ray", "--address", sim.address, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = _only_run(app).folder
    assert _where(run_dir, "on_gpu") == {"node": sim.gpu_worker.node_id, "gpus": "0"}
    assert _where(run_dir, "big_memory") == {"node": sim.head_id, "gpus": None}


def test_a_request_no_ray_node_can_hold_fails_at_once_naming_the_node_and_the_resource(sim, make_app):
    app = make_app("""
        name: too-big
        workflows:
          - name: main
            nodes:
              - {name: fits, script: where.py, parameters: {tag: fits}}
              - {name: four_gpus, script: where.py, parameters: {tag: four_gpus}, resources: {gpu: 4}}
    """, {"where.py": WHERE})
    done = scanflow_cli("run", str(app.root), "--backend", "ray", RAY_ADDRESS=sim.address)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "main/four_gpus: no Ray node can run it: it asks for CPU=1, GPU=4, the largest node has CPU=1, GPU=1" \
        in done.stdout
    state = _only_run(app)
    assert f"--backend ray --resume {state.run_id}" in done.stdout  # on the cluster of RAY_ADDRESS
    nodes = state.data["nodes"]
    assert nodes["main/fits"]["status"] == "succeeded"
    assert nodes["main/four_gpus"]["status"] == "failed" and nodes["main/four_gpus"]["duration"] < 2


def test_an_address_where_no_cluster_answers_fails_in_seconds_and_records_no_run(make_app):
    app = make_app("""
        name: nowhere
        workflows: [{name: main, nodes: [{name: n, script: where.py}]}]
    """, {"where.py": WHERE})
    address = f"127.0.0.1:{_free_port()}"
    started = time.monotonic()
    done = scanflow_cli("run", str(app.root), "--backend", "ray", "--address", address, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot reach the Ray cluster (GCS) at {address}" in done.stderr
    assert "ray start --head --port PORT" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 30  # the interpreter and imports; Ray itself waits a minute
    assert list_runs(app.state_path) == []


AUTH = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


@contextlib.contextmanager
def _ray_start_head(env: dict[str, str]):
    """``ray start --head --block`` as a user would type it on this machine; yields its port."""
    ray_bin = shutil.which("ray", path=str(Path(sys.executable).parent)) or pytest.skip("no `ray` command")
    port, temp_dir = _free_port(), tempfile.mkdtemp(prefix="sfray-", dir="/tmp")
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--num-cpus", "1", "--include-dashboard", "false", "--object-store-memory", str(NODE["object_store_memory"]),
         "--temp-dir", temp_dir, "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        from scanflow.run.ray_join import local_raylets

        _wait_for(lambda: any(g and g.endswith(f":{port}") for g, _ in local_raylets()), 60, "`ray start` to start")
        yield port
    finally:
        head.terminate()  # `ray start --block` stops what it started
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_head_from_ray_start_here_is_joined_at_127_0_0_1_with_the_token_it_asks_for(make_app):
    """The rehearsal of docs/deploy.md on one machine: `ray start --head` (this Ray binds it to
    the outward IP, and may ask for a token), then `--address 127.0.0.1:PORT` with the token in
    RAY_AUTH_TOKEN but no RAY_AUTH_MODE: joined as `address="auto"` would (Ray itself sends no
    token to an address it was given)."""
    token = secrets.token_hex(32)
    app = make_app("""
        name: rehearsal
        workflows: [{name: main, nodes: [{name: n, script: where.py, parameters: {tag: n}}]}]
    """, {"where.py": WHERE})
    with _ray_start_head(_env(drop=AUTH, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)) as port:
        done = scanflow_cli("run", str(app.root), "--backend", "ray", "--address", f"127.0.0.1:{port}",
                            drop=AUTH, RAY_AUTH_TOKEN=token)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _where(_only_run(app).folder, "n")["node"]


# -- outputs between nodes on different Ray nodes -------------------------------------------------

def test_outputs_pass_between_nodes_that_ran_on_different_ray_nodes_through_ray_client(sim, make_app):
    from mlflow import MlflowClient

    app = make_app("""
        name: handoff
        workflows:
          - name: main
            nodes:
              - {name: produce, script: produce.py, outputs: [features/table.json], resources: {gpu: 1}}
              - {name: consume, script: consume.py, outputs: [report.json], depends_on: produce,
                 resources: {memory: 2Gi}}
    """, {
        "produce.py": """
            import json, os, pathlib
            out = pathlib.Path(os.environ["SCANFLOW_OUTPUT_DIR"], "features")
            out.mkdir()
            (out / "table.json").write_text(json.dumps({"rows": [1, 2, 3], "node": os.environ["SCANFLOW_RAY_NODE_ID"]}))
        """,
        "consume.py": """
            import json, os, pathlib
            out = pathlib.Path(os.environ["SCANFLOW_OUTPUT_DIR"])
            table = json.loads((out / "features" / "table.json").read_text())
            (out / "report.json").write_text(json.dumps({"total": sum(table["rows"]), "from": table["node"],
                                                         "on": os.environ["SCANFLOW_RAY_NODE_ID"]}))
        """,
    })
    done = scanflow_cli("run", str(app.root), "--backend", "ray", "--address", sim.client_address)
    assert done.returncode == 0, done.stdout + done.stderr
    state = _only_run(app)
    report = json.loads((state.output_dir / "report.json").read_text())
    assert report == {"total": 6, "from": sim.gpu_worker.node_id, "on": sim.head_id}
    sync_tracking(state.data["mlflow"]["tracking_uri"])  # `scanflow run` records a moment after it ends
    client = MlflowClient(state.data["mlflow"]["tracking_uri"])
    logged = {name: client.list_artifacts(state.node(f"main/{name}")["mlflow_run_id"], path)
              for name, path in (("produce", "outputs/features"), ("consume", "outputs"))}
    assert [a.path for a in logged["produce"]] == ["outputs/features/table.json"]
    assert [a.path for a in logged["consume"]] == ["outputs/report.json"]


# -- the driver killed, then resumed --------------------------------------------------------------

STEPS = """
    name: steps
    workflows:
      - name: main
        nodes:
          - {name: first, script: step.py, parameters: {tag: first}}
          - {name: long, script: step.py, parameters: {tag: long}, depends_on: first}
          - {name: last, script: step.py, parameters: {tag: last}, depends_on: long}
"""
STEP = """
    import os, pathlib, sys, time
    import psutil
    tag = sys.argv[sys.argv.index("--tag") + 1]
    app = pathlib.Path(os.environ["SCANFLOW_APP_DIR"])
    where = "ray" if "ray::" in " ".join(psutil.Process(os.getppid()).cmdline()) else "local"
    with open(app / "ran.log", "a") as f:
        f.write(tag + ":" + where + "\\n")
    if tag == "long":
        (app / "long.pid.tmp").write_text(str(os.getpid()))
        os.replace(app / "long.pid.tmp", app / "long.pid")
        deadline = time.time() + 120
        while not (app / "release").exists():
            if time.time() > deadline:
                sys.exit("never released")
            time.sleep(0.05)
"""


def test_resume_after_the_driver_is_killed_finishes_the_run_without_rerunning_finished_nodes(sim, make_app):
    from mlflow import MlflowClient

    app = make_app(STEPS, {"step.py": STEP})
    ray_args = ["--backend", "ray", "--address", sim.address]
    driver = subprocess.Popen([sys.executable, "-m", "scanflow.cli", "run", str(app.root), *ray_args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        _wait_for((app.root / "long.pid").exists, 90, "the long node to start")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        driver.kill()
    node_pid = int((app.root / "long.pid").read_text())
    _wait_for(lambda: _gone(node_pid), 60, "Ray to end the dead driver's node")
    run_id = _only_run(app).run_id
    (app.root / "release").touch()

    done = scanflow_cli("run", str(app.root), "--resume", run_id)  # on the cluster the run used
    assert done.returncode == 0, done.stdout + done.stderr
    assert (app.root / "ran.log").read_text().split() == ["first:ray", "long:ray", "long:ray", "last:ray"]
    state = _only_run(app)
    assert state.run_id == run_id and state.data["status"] == "succeeded"
    assert {k: v["status"] for k, v in state.data["nodes"].items()} == {
        "main/first": "reused", "main/long": "succeeded", "main/last": "succeeded"}
    sync_tracking(state.data["mlflow"]["tracking_uri"])  # `scanflow run` records a moment after it ends
    assert MlflowClient(state.data["mlflow"]["tracking_uri"]).get_run(run_id).info.status == "FINISHED"


# -- a worker lost mid-run (last: it changes the cluster) -------------------------------------------

LOSSY = """
    name: lossy
    workflows:
      - name: main
        nodes:
          - {name: prepare, script: lossy.py, parameters: {tag: prepare}, outputs: [prepare.txt]}
          - {name: train, script: lossy.py, parameters: {tag: train}, outputs: [train.txt],
             depends_on: prepare, resources: {gpu: 1}}
          - {name: report, workflow: report, depends_on: train}
      - name: report
        nodes:
          - {name: summarize, script: lossy.py, parameters: {tag: summarize}, outputs: [summarize.txt]}
"""
LOSSY_NODE = """
    import os, pathlib, sys, time
    tag = sys.argv[sys.argv.index("--tag") + 1]
    app, out = pathlib.Path(os.environ["SCANFLOW_APP_DIR"]), pathlib.Path(os.environ["SCANFLOW_OUTPUT_DIR"])
    if tag == "train":
        with open(app / "train.log", "a") as f:
            f.write(f"{os.environ.get('SCANFLOW_RAY_NODE_ID')} {os.getpid()}\\n")
        deadline = time.time() + 120
        while not (app / "release").exists():
            if time.time() > deadline:
                sys.exit("never released")
            time.sleep(0.05)
    (out / (tag + ".txt")).write_text(tag)
"""
DRIVER = """
import json, pathlib, sys
from scanflow.run import run_workflow
from scanflow.run.ray_backend import RayBackend

result = run_workflow(sys.argv[1], backend=RayBackend(address=sys.argv[2]), handle_signals=False)
pathlib.Path(sys.argv[3]).write_text(json.dumps({
    "status": result.status, "attempts": {k: n.attempts for k, n in result.nodes.items()},
    "stderr": {k: str(n.stderr) for k, n in result.nodes.items()}, "uri": result.tracking_uri}))
"""


def recorded(tracking_uri: str) -> list[tuple]:
    """The MLflow record of a run, without ids and times: each run by its path of names, with
    its status, kind, attempts, parameters (but the backend) and logged outputs."""
    from mlflow import MlflowClient

    sync_tracking(tracking_uri)  # records of a `scanflow run` that has just ended
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    by_id = {r.info.run_id: r for r in runs}

    def path(run) -> str:
        names = []
        while run is not None:
            names.append(run.info.run_name)
            run = by_id.get(run.data.tags.get("mlflow.parentRunId"))
        return "/".join(reversed(names))

    return sorted(
        (path(r), r.info.status, r.data.tags.get("scanflow.kind"), r.data.tags.get("scanflow.attempts"),
         tuple(sorted((k, v) for k, v in r.data.params.items() if k != "backend")),
         tuple(a.path for a in client.list_artifacts(r.info.run_id, "outputs")))
        for r in runs)


def test_a_worker_lost_mid_node_is_run_again_on_another_and_the_run_is_recorded_as_a_local_one(
        sim, make_app):
    from scanflow.run import run_workflow

    spare = sim.add_gpu_worker()  # a second GPU worker: the lost node's work goes there
    gpu_workers = {n.node_id: n for n in (sim.gpu_worker, spare)}
    app = make_app(LOSSY, {"lossy.py": LOSSY_NODE}, folder="on-ray")
    answer = app.root / "result.json"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(app.root), sim.address, str(answer)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        log = app.root / "train.log"
        _wait_for(lambda: log.exists() and log.read_text().endswith("\n"), 90, "the train node to start")
        first_node, first_pid = log.read_text().split()
        lost = gpu_workers.pop(first_node)
        sim.cluster.remove_node(lost, allow_graceful=False)
        sim.gpu_worker = next(iter(gpu_workers.values()))
        _wait_for(lambda: _gone(int(first_pid)), 30, "the node's process to die with its Ray node")
        (app.root / "release").touch()
        out, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 0, out + err
    result = json.loads(answer.read_text())
    assert result["status"] == "succeeded" and result["attempts"]["main/train"] == 1
    assert [line.split()[0] for line in log.read_text().splitlines()] == [first_node, sim.gpu_worker.node_id]
    assert "the Ray node running attempt 1 was lost (NodeDiedError" in Path(result["stderr"]["main/train"]).read_text()

    local_app = make_app(LOSSY, {"lossy.py": LOSSY_NODE}, folder="local")
    (local_app.root / "release").touch()
    local = run_workflow(local_app, backend="local", handle_signals=False)
    assert local.ok
    assert recorded(result["uri"]) == recorded(local.tracking_uri)
