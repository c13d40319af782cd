"""What only the ray backend does, on a real local Ray instance (2 CPUs, loopback, no dashboard).

The contract it shares with every backend (environment, logs, exit codes, timeouts and cancels
that kill the process tree, resources it cannot meet) is checked in test_backend_contract.py.
"""

import os
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from scanflow.run.backend import NodeTask

ray = pytest.importorskip("ray")


@pytest.fixture
def backend(ray_cluster):
    from scanflow.run.ray_backend import RayBackend

    b = RayBackend(poll_interval=0.05, kill_grace=2.0)
    yield b
    b.close()  # leaves the session's Ray running: this backend did not start it


def make_task(tmp_path, code, name="n", **kw):
    d = tmp_path / name
    return NodeTask(run_id="r", node_id=f"wf/{name}", command=[sys.executable, "-c", textwrap.dedent(code)],
                    workdir=d / "work", env={**os.environ, "GREETING": "hello"},
                    stdout_path=d / "stdout.log", stderr_path=d / "stderr.log", **kw)


pytestmark = pytest.mark.ray


def test_resources_become_ray_task_options(backend, tmp_path):
    task = make_task(tmp_path, "pass", resources={"cpu": 0.5, "memory": 2**30, "gpu": 1},
                     requirements=["numpy"])
    options = backend.task_options(task)
    assert options["num_cpus"] == 0.5 and options["memory"] == 2**30 and options["num_gpus"] == 1.0
    assert "runtime_env" not in options  # on this machine the scheduler's venv is used
    assert backend.task_options(make_task(tmp_path, "pass"))["num_cpus"] == 1.0


def test_a_remote_cluster_gets_the_working_dir_once_per_job_and_pip_requirements_per_node(tmp_path):
    from scanflow.app import Executor
    from scanflow.run.ray_backend import RayBackend

    remote = RayBackend(address="ray://head:10001", working_dir=tmp_path, runtime_env={"env_vars": {"A": "1"}})
    task = make_task(tmp_path, "pass", requirements=["numpy==2.0.0"],
                     node=Executor(name="n", module="m", isolated=True))
    assert remote.job_runtime_env() == {"env_vars": {"A": "1"}, "working_dir": str(tmp_path.resolve())}
    assert remote.task_options(task)["runtime_env"] == {"pip": ["numpy==2.0.0"]}  # the rest is the job's


def test_on_a_ray_started_elsewhere_the_runtime_env_goes_with_every_task(ray_cluster, tmp_path):
    from scanflow.run.ray_backend import RayBackend

    joined = RayBackend(runtime_env={"env_vars": {"A": "1"}})
    try:
        joined.open()  # the session's Ray was started without this runtime env
        assert joined.task_options(make_task(tmp_path, "pass"))["runtime_env"] == {"env_vars": {"A": "1"}}
    finally:
        joined.close()


def test_a_working_dir_on_a_ray_started_elsewhere_is_refused_with_the_fix(ray_cluster, tmp_path):
    from scanflow.errors import ScanflowError
    from scanflow.run.ray_backend import RayBackend

    with pytest.raises(ScanflowError, match=r"ray.shutdown\(\) first"):
        RayBackend(working_dir=tmp_path).open()


def test_a_ray_client_session_that_fails_to_start_is_tried_once_more_then_named(monkeypatch):
    """Ray Client starts a server process per connection on the head; that start-up fails now
    and then ("Initialization failure from server"): a second try, then the error with the fix."""
    from scanflow.run import ray_backend
    from scanflow.run.ray_join import Join, RayConnectionError

    calls = []

    def init(address, **kwargs):
        calls.append(address)
        if len(calls) == 1 or address.endswith(":2"):
            raise ConnectionAbortedError("Initialization failure from server:")

    monkeypatch.setattr(ray_backend, "plan_join", lambda address: Join(address))
    monkeypatch.setattr(ray_backend.ray, "init", init)
    monkeypatch.setattr(ray_backend.ray, "shutdown", lambda: None)
    ray_backend.RayBackend(address="ray://head:1")._init_ray()
    assert calls == ["ray://head:1", "ray://head:1"]
    with pytest.raises(RayConnectionError, match=r"could not join the Ray cluster at ray://head:2 \(ConnectionAbortedError"):
        ray_backend.RayBackend(address="ray://head:2")._init_ray()
    assert calls[2:] == ["ray://head:2", "ray://head:2"]


def test_a_node_started_through_setpriv_dies_with_its_worker_and_keeps_its_pid(backend, tmp_path):
    from scanflow.run.ray_backend import _death_signal_wrapper

    if not _death_signal_wrapper([sys.executable], dict(os.environ)):
        pytest.skip("no util-linux setpriv here: the preexec_fn path is used")
    result = backend.run_node(make_task(tmp_path, """
        import os
        print(open(f"/proc/{os.getpid()}/status").read().split("Name:")[1].split()[0])
    """))
    assert result.ok and "python" in (tmp_path / "n" / "stdout.log").read_text()  # setpriv exec'd the node


def test_cancel_requests_come_before_the_check_in_or_after_it():
    """The task checks in with the CancelRequests actor before it starts the node's process, so a
    cancel either stops the task before the process exists or finds it started (and waited for)."""
    from scanflow.run.ray_backend import CancelRequests

    flags = CancelRequests()
    assert flags.cancel("queued") is False and flags.check_in("queued") is False  # never starts
    assert flags.check_in("running") is True and not flags.is_cancelled("running")
    assert flags.cancel("running") is True and flags.is_cancelled("running")  # the driver waits


def test_a_cancel_waits_for_a_node_that_ignores_sigterm_to_be_killed(backend, tmp_path):
    started = tmp_path / "started"
    task = make_task(tmp_path, f"""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open({str(started)!r} + ".tmp", "w").write(str(os.getpid()))
        os.replace({str(started)!r} + ".tmp", {str(started)!r})
        time.sleep(60)
    """)
    threading.Thread(target=lambda: (_wait_for(started), task.cancel.set()), daemon=True).start()
    result = backend.run_node(task)
    assert result.status == "cancelled" and "process tree was killed" in result.error
    pid = int(started.read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert result.finished_at - result.started_at >= backend.kill_grace  # SIGKILL came after the grace


def test_a_cancel_while_the_node_waits_for_cpus_starts_nothing(backend, tmp_path):
    hold, marker = tmp_path / "hold", tmp_path / "ran"
    blocker = make_task(tmp_path, f"""
        import os, time
        open({str(hold)!r}, "w").close()
        while os.path.exists({str(hold)!r}):
            time.sleep(0.05)
    """, "blocker", resources={"cpu": 2})
    waiting = make_task(tmp_path, f"open({str(marker)!r}, 'w').close()", "waiting", resources={"cpu": 1})
    first = threading.Thread(target=backend.run_node, args=(blocker,))
    first.start()
    _wait_for(hold)
    threading.Timer(0.5, waiting.cancel.set).start()
    result = backend.run_node(waiting)  # queued behind the blocker, which holds both CPUs
    hold.unlink()
    first.join()
    assert result.status == "cancelled" and "before it started" in result.error
    time.sleep(1)  # had it been started anyway, it would have run by now
    assert not marker.exists()


def _wait_for(path, timeout=60):
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)


KILLS_ITS_WORKER = """
    import os, pathlib, signal
    marker = pathlib.Path({marker!r})
    if {always!r} or not marker.exists():
        marker.touch()
        os.kill(os.getppid(), signal.SIGKILL)  # the Ray worker running this node dies under it
    print("ran to the end")
"""


def test_an_attempt_whose_ray_worker_dies_runs_again_without_using_the_node_s_retries(backend, tmp_path):
    task = make_task(tmp_path, KILLS_ITS_WORKER.format(marker=str(tmp_path / "killed"), always=False))
    result = backend.run_node(task)
    assert result.ok, result.error
    assert "----- scanflow: the Ray node running attempt 1 was lost (WorkerCrashedError" in task.stderr_path.read_text()
    assert "ran to the end" in task.stdout_path.read_text()


def test_an_attempt_lost_more_than_node_loss_retries_times_fails_saying_so(ray_cluster, tmp_path):
    from scanflow.run.ray_backend import RayBackend

    backend = RayBackend(node_loss_retries=1, poll_interval=0.05)
    try:
        result = backend.run_node(make_task(tmp_path, KILLS_ITS_WORKER.format(marker=str(tmp_path / "k"), always=True)))
    finally:
        backend.close()
    assert result.status == "failed"
    assert result.error.startswith("the Ray node running it was lost 2 times (last: WorkerCrashedError")


def test_an_attempt_lost_with_no_node_left_that_can_hold_it_fails_instead_of_waiting(backend, tmp_path, monkeypatch):
    answers = iter([None, "no Ray node can run it: it asks for GPU=1, the largest node has GPU=0"])
    monkeypatch.setattr(backend, "infeasible", lambda options: next(answers))  # feasible until the loss
    task = make_task(tmp_path, KILLS_ITS_WORKER.format(marker=str(tmp_path / "k"), always=True))
    result = backend.run_node(task)
    assert result.status == "failed"
    assert result.error.startswith("the Ray node running it was lost (WorkerCrashedError")
    assert result.error.endswith("and no Ray node can run it: it asks for GPU=1, the largest node has GPU=0")


def test_two_one_cpu_nodes_run_at_the_same_time(backend, tmp_path):
    # Each node waits until the other one has started: this only finishes if both run at once.
    code = """
        import os, time
        me, other = {me!r}, {other!r}
        open(me, "w").close()
        deadline = time.time() + 60
        while not os.path.exists(other):
            if time.time() > deadline:
                raise SystemExit("the other node never started")
            time.sleep(0.05)
    """
    a, b = tmp_path / "a.started", tmp_path / "b.started"
    tasks = [make_task(tmp_path, code.format(me=str(a), other=str(b)), "a"),
             make_task(tmp_path, code.format(me=str(b), other=str(a)), "b")]
    results = [None, None]
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, backend.run_node(tasks[i]))) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == ["succeeded", "succeeded"]


def test_a_two_cpu_node_has_the_cluster_to_itself(backend, tmp_path):
    # With 2 CPUs in the cluster, two nodes asking for 2 CPUs each cannot overlap.
    code = """
        import os, time
        open({me!r}, "w").close()
        time.sleep(1)
        print("other running:", os.path.exists({other!r}) and not os.path.exists({other_done!r}))
        open({me_done!r}, "w").close()
    """
    paths = {k: str(tmp_path / f"{k}.marker") for k in ("a", "b", "a.done", "b.done")}
    tasks = [make_task(tmp_path, code.format(me=paths["a"], other=paths["b"], other_done=paths["b.done"], me_done=paths["a.done"]),
                       "a", resources={"cpu": 2}),
             make_task(tmp_path, code.format(me=paths["b"], other=paths["a"], other_done=paths["a.done"], me_done=paths["b.done"]),
                       "b", resources={"cpu": 2})]
    threads = [threading.Thread(target=backend.run_node, args=(t,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [t.stdout_path.read_text().strip() for t in tasks] == ["other running: False"] * 2


def test_without_ray_the_error_says_how_to_install_it():
    code = ("import sys; sys.modules['ray'] = None\n"
            "from scanflow.run import get_backend\n"
            "try:\n    get_backend('ray')\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "pip install 'scanflow[ray]'" in out


# -- the scheduler on both backends: same outputs, retries, cache, resume and tracked runs ---------

DEMO = """
name: demo
workflows:
  - name: main
    nodes:
      - {name: prepare, script: step.py, parameters: {tag: prepare}, outputs: [prepare.txt]}
      - {name: left, script: step.py, parameters: {tag: left}, depends_on: prepare, resources: {cpu: 1}}
      - {name: right, script: flaky.py, depends_on: prepare, retries: 1, retry_backoff: 0}
      - {name: report, workflow: report, depends_on: [left, right]}
  - name: report
    nodes:
      - {name: summarize, script: summarize.py, outputs: [summary.txt]}
"""
DEMO_FILES = {
    "step.py": """
        import os, sys
        tag = sys.argv[sys.argv.index("--tag") + 1]
        open(os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], tag + ".txt"), "w").write(tag)
        print("wrote", tag)
    """,
    "flaky.py": """
        import os, sys
        if os.environ["SCANFLOW_ATTEMPT"] == "1":
            sys.exit("first attempts fail")
        open(os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], "right.txt"), "w").write("right")
    """,
    "summarize.py": """
        import os, pathlib, sys
        if not pathlib.Path(os.environ["SCANFLOW_APP_DIR"], "FIXED").exists():
            sys.exit("not fixed yet")
        out = pathlib.Path(os.environ["SCANFLOW_OUTPUT_DIR"])
        parts = sorted(p.read_text() for p in out.glob("*.txt") if p.name != "summary.txt")
        (out / "summary.txt").write_text(",".join(parts))
    """,
}


def _story(make_app, backend_name, folder):
    """fail -> fix -> resume -> run again from the cache; returns what a user would see."""
    from scanflow.run import get_backend, run_workflow

    app = make_app(DEMO, DEMO_FILES, folder=folder)
    backend = get_backend(backend_name, **({"poll_interval": 0.05} if backend_name == "ray" else {}))
    first = run_workflow(app, backend=backend, handle_signals=False)
    (app.root / "FIXED").touch()
    resumed = run_workflow(app, backend=backend, resume=first.run_id, handle_signals=False)
    again = run_workflow(app, backend=backend, handle_signals=False)
    outputs = {p.name: p.read_text() for p in resumed.output_dir.iterdir()}
    return first, resumed, again, outputs


def _tracked(result):
    from mlflow import MlflowClient

    client = MlflowClient(result.tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return sorted(
        (r.info.run_name, r.info.status, r.data.tags.get("scanflow.kind"), r.data.tags.get("scanflow.node"),
         tuple(sorted((k, v) for k, v in r.data.params.items() if k != "backend")))
        for r in runs)


def test_the_same_application_gives_the_same_results_on_local_and_ray(make_app, ray_cluster):
    local = _story(make_app, "local", "local")
    on_ray = _story(make_app, "ray", "ray")
    for lo, ra in zip(local[:3], on_ray[:3], strict=True):
        assert ra.statuses == lo.statuses
        assert {k: n.attempts for k, n in ra.nodes.items()} == {k: n.attempts for k, n in lo.nodes.items()}
    first, resumed, again, outputs = on_ray
    assert first.statuses["main/report/summarize"] == "failed", {k: (n.status, n.error) for k, n in first.nodes.items()}
    assert first.nodes["main/right"].attempts == 2  # the retry happened on Ray
    assert resumed.statuses == {"main/prepare": "reused", "main/left": "reused", "main/right": "reused",
                                "main/report/summarize": "succeeded"}
    assert set(again.statuses.values()) == {"cached"}
    assert outputs == local[3] == {"prepare.txt": "prepare", "left.txt": "left", "right.txt": "right",
                                   "summary.txt": "left,prepare,right"}
    assert "wrote left" in on_ray[1].nodes["main/left"].stdout.read_text()
    assert _tracked(on_ray[2]) == _tracked(local[2])


@pytest.mark.slow
def test_the_mnist_example_gives_the_same_results_on_local_and_ray(tmp_path, ray_cluster):
    """examples/mnist (1,000 digits, one epoch) on both backends: same statuses, outputs and runs."""
    import json
    import shutil
    from pathlib import Path

    from scanflow.app import load_app
    from scanflow.run import get_backend, run_workflow

    example = Path(__file__).resolve().parents[2] / "examples" / "mnist"
    if not (example / "scanflow.yaml").is_file():
        pytest.skip("examples/mnist is not there")
    results = {}
    for name in ("local", "ray"):
        root = tmp_path / name
        shutil.copytree(example, root, ignore=shutil.ignore_patterns(".scanflow", "__pycache__"))
        app = load_app(root)
        training = app.workflow("training")
        training.node("load").parameters = {**training.node("load").parameters, "limit": 1000}
        training.node("train").parameters = {**training.node("train").parameters, "epochs": 1}
        results[name] = run_workflow(app, backend=get_backend(name), handle_signals=False)
    local, on_ray = results["local"], results["ray"]
    assert local.ok and on_ray.statuses == local.statuses
    files = {p.relative_to(local.output_dir) for p in local.output_dir.rglob("*")}
    assert {p.relative_to(on_ray.output_dir) for p in on_ray.output_dir.rglob("*")} == files
    for name in ("stats.json", "normalization.json"):  # deterministic outputs: equal
        assert json.loads((on_ray.output_dir / name).read_text()) == json.loads((local.output_dir / name).read_text())
    assert [t[:4] for t in _tracked(on_ray)] == [t[:4] for t in _tracked(local)]
