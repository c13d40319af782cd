"""Ray backend vs local backend, through the same scheduler.

1. A 50-node DAG of no-op Python scripts (5 layers of 10; each node waits for two nodes of the
   layer before): total time, time per node, and the latency of one ``run_node`` call.
2. 8 independent nodes that each sleep 1 s, on 2 CPUs: speedup over running them one at a
   time (the limit is 2.0x: two CPUs).

Ray runs on this machine with 2 CPUs (``ray.init(num_cpus=2)``), started before the clock;
its start-up time is printed apart, and both of its workers are warm before the clock starts. Tracking is off to time the backends, not MLflow.

    .venv/bin/python benchmarks/ray_vs_local.py            # 3 repetitions, median
    .venv/bin/python benchmarks/ray_vs_local.py --quick    # 1 repetition, 0.5 s sleeps
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from scanflow.app import Application, Executor, Workflow  # noqa: E402
from scanflow.run import LocalBackend, NodeTask, run_workflow  # noqa: E402


def dag_app(root: Path, layers: int = 5, width: int = 10) -> Application:
    root.mkdir(parents=True, exist_ok=True)
    (root / "noop.py").write_text("pass\n")
    nodes = []
    for layer in range(layers):
        for i in range(width):
            deps = [] if layer == 0 else [f"n{layer - 1}_{i}", f"n{layer - 1}_{(i + 1) % width}"]
            nodes.append(Executor(name=f"n{layer}_{i}", script="noop.py", depends_on=deps, cache=False))
    app = Application(name="dag50", workflows=[Workflow(name="dag", nodes=nodes)], state_dir=str(root / "state"))
    app.root = root
    return app


def sleep_app(root: Path, n: int, seconds: float) -> Application:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sleep.py").write_text(f"import time\ntime.sleep({seconds})\n")
    nodes = [Executor(name=f"s{i}", script="sleep.py", cache=False) for i in range(n)]
    app = Application(name="sleep8", workflows=[Workflow(name="sleep", nodes=nodes)], state_dir=str(root / "state"))
    app.root = root
    return app


def timed_run(app: Application, backend, max_parallel: int) -> float:
    start = time.perf_counter()
    result = run_workflow(app, backend=backend, use_cache=False, max_parallel=max_parallel,
                          track=False, handle_signals=False)
    elapsed = time.perf_counter() - start
    if not result.ok:
        sys.exit(f"benchmark run failed: {result.statuses}")
    return elapsed


def run_node_latency(backend, root: Path, n: int) -> float:
    """Mean seconds of one run_node call for a process that does nothing."""
    times = []
    for i in range(n):
        d = root / f"lat{i}"
        task = NodeTask(run_id="bench", node_id=f"lat/{i}", command=[sys.executable, "-c", "pass"],
                        workdir=d, env=dict(os.environ), stdout_path=d / "out.log", stderr_path=d / "err.log")
        start = time.perf_counter()
        assert backend.run_node(task).ok
        times.append(time.perf_counter() - start)
    return statistics.mean(times)


def warm_up(backend, root: Path) -> None:
    """Ray starts a worker process per concurrent task on first use (a second or more each):
    two nodes at once, twice, so that both workers exist before the clock starts."""
    threads = [threading.Thread(target=run_node_latency, args=(backend, root / str(i), 2)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, 0.5 s sleeps")
    args = parser.parse_args()
    reps = 1 if args.quick else 3
    seconds = 0.5 if args.quick else 1.0

    import ray

    from scanflow.run.ray_backend import RayBackend

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _node_ip_address="127.0.0.1")  # loopback only
    ray_start = time.perf_counter() - t0
    backends = {"local": LocalBackend(), "ray": RayBackend(poll_interval=0.02)}
    tmp = Path(tempfile.mkdtemp(prefix="scanflow-bench-"))
    warm_up(backends["ray"], tmp / "warm")

    dag_rows, sleep_rows = [], []
    for name, backend in backends.items():
        dag = [timed_run(dag_app(tmp / f"dag-{name}-{r}"), backend, max_parallel=2) for r in range(reps)]
        total = statistics.median(dag)
        latency = run_node_latency(backend, tmp / f"lat-{name}", 10 if args.quick else 30)
        dag_rows.append((name, total, total / 50, latency))

        serial = [timed_run(sleep_app(tmp / f"ser-{name}-{r}", 8, seconds), backend, 1) for r in range(reps)]
        # Local: two slots for two CPUs. Ray: eight slots; Ray itself holds it to 2 CPUs (1 per task).
        slots = 2 if name == "local" else 8
        parallel = [timed_run(sleep_app(tmp / f"par-{name}-{r}", 8, seconds), backend, slots) for r in range(reps)]
        s, p = statistics.median(serial), statistics.median(parallel)
        sleep_rows.append((name, slots, s, p, s / p))

    print(f"Ray start-up (not counted below): {ray_start:.1f} s; machine: {os.cpu_count()} CPUs; "
          f"Ray CPUs: {ray.cluster_resources().get('CPU', 0):g}; repetitions: {reps} (median)\n")
    print("50-node DAG (5 layers x 10, no-op nodes, max_parallel=2)")
    print(f"{'backend':<8} {'total s':>9} {'per node s':>11} {'run_node no-op ms':>18}")
    for name, total, per, lat in dag_rows:
        print(f"{name:<8} {total:>9.2f} {per:>11.3f} {lat * 1000:>18.1f}")
    ray_over = dag_rows[1][3] - dag_rows[0][3]
    print(f"Ray overhead per task vs local: {ray_over * 1000:+.1f} ms (one run_node call); "
          f"{(dag_rows[1][2] - dag_rows[0][2]) * 1000:+.1f} ms per node in the DAG\n")
    print(f"8 independent nodes sleeping {seconds:g} s, 2 CPUs (limit 2.0x)")
    print(f"{'backend':<8} {'max_parallel':>12} {'serial s':>9} {'parallel s':>11} {'speedup':>8}")
    for name, slots, s, p, speedup in sleep_rows:
        print(f"{name:<8} {slots:>12} {s:>9.2f} {p:>11.2f} {speedup:>7.2f}x")
    ray.shutdown()


if __name__ == "__main__":
    main()
