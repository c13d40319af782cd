"""Orchestration overhead: Scanflow's scheduler vs the same scripts run back to back by a shell loop.

Workloads (every node is the same trivial Python script):
  chain-2   two nodes, one after the other
  dag-50    50 nodes in 10 layers of 5; each node waits for 2 nodes of the layer before
            (run with 2 parallel slots, and with 1 for a like-for-like comparison)

Each workload runs through ``scanflow.run.run_workflow`` (cache off) with MLflow tracking off
(``track=False``), on as the run goes (``sync``: a parent run, a nested run per node, logs and
params, written by the scheduler), and deferred (``deferred``, what ``scanflow run`` does: the
scheduler journals the same records and a background writer puts them in MLflow), and as a
``for`` loop in bash. For deferred tracking two times are reported: when the scheduler returns,
and when every record is in MLflow (``deferred+written``: the return, then
``scanflow.track.sync_tracking``, which writes what the writer has not yet). Reported: wall
seconds (median of the repeats), ratio to the shell loop, and overhead per node in ms =
(Scanflow − shell) / nodes.

    .venv/bin/python benchmarks/orchestration_overhead.py [--quick] [--repeats N] [--stat min]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

from scanflow.app import Application, Executor, Workflow  # noqa: E402
from scanflow.run import run_workflow  # noqa: E402
from scanflow.track import sync_tracking  # noqa: E402

TRIVIAL = "import os\n"  # a node that does nothing but start Python


def chain(n: int) -> list[Executor]:
    return [Executor(name=f"n{i}", script="trivial.py", depends_on=[f"n{i - 1}"] if i else []) for i in range(n)]


def layered_dag(layers: int = 10, width: int = 5, fan_in: int = 2, seed: int = 0) -> list[Executor]:
    rng = random.Random(seed)
    nodes = []
    for layer in range(layers):
        for j in range(width):
            deps = sorted(rng.sample(range(width), fan_in)) if layer else []
            nodes.append(Executor(name=f"l{layer}_{j}", script="trivial.py",
                                  depends_on=[f"l{layer - 1}_{d}" for d in deps]))
    return nodes


def make_app(root: Path, name: str, nodes: list[Executor]) -> Application:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trivial.py").write_text(TRIVIAL)
    app = Application(name=name, workflows=[Workflow(name="main", nodes=nodes)])
    app.root = folder
    return app


def shell_loop(app: Application) -> float:
    script = app.root / "trivial.py"
    n = len(app.workflows[0].nodes)
    loop = f'for i in $(seq {n}); do "{sys.executable}" "{script}" || exit 1; done'
    started = time.perf_counter()
    subprocess.run(["bash", "-c", loop], check=True)
    return time.perf_counter() - started


def scanflow_run(app: Application, mode: str, slots: int) -> tuple[float, float]:
    """(seconds until the scheduler returns, seconds until every record is in MLflow)."""
    started = time.perf_counter()
    result = run_workflow(app, use_cache=False, track=mode != "off", deferred_tracking=mode == "deferred",
                          max_parallel=slots, handle_signals=False)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"benchmark run failed: {result}")
    if mode == "deferred":
        sync_tracking(app)
    return elapsed, time.perf_counter() - started


MODES = ("off", "sync", "deferred")


def measure(app: Application, slots: int, repeats: int) -> dict[str, list[float]]:
    """Wall seconds of the shell loop and of each Scanflow variant, interleaved repeat by repeat
    (a change of machine load hits all of them alike)."""
    times: dict[str, list[float]] = {"shell": [], "off": [], "sync": [], "deferred": [], "deferred+written": []}
    for _ in range(repeats):
        times["shell"].append(shell_loop(app))
        for mode in MODES:
            returned, written = scanflow_run(app, mode, slots)
            times[mode].append(returned)
            if mode == "deferred":
                times["deferred+written"].append(written)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two repeats of dag-50 (one of chain-2 ten)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of dag-50 (chain-2: 10x as many)")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="statistic over the repeats (min: the least disturbed by other load)")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    stat = statistics.median if args.stat == "median" else min
    root = Path(tempfile.mkdtemp(prefix="scanflow-bench-"))
    try:
        workloads = [
            ("chain-2", make_app(root, "chain", chain(2)), 1),
            ("dag-50", make_app(root, "dag", layered_dag()), 2),
            ("dag-50", make_app(root, "dag1", layered_dag()), 1),
        ]
        # Warm up: the first tracked run of an app creates its SQLite store (migrations, ~2 s).
        for _, app, slots in workloads:
            scanflow_run(app, "sync", slots)
        rows = []
        for label, app, slots in workloads:
            n = len(app.workflows[0].nodes)
            times = measure(app, slots, repeats * (10 if n <= 2 else 1))
            stats = {k: stat(v) for k, v in times.items()}
            shell, off = stats["shell"], stats["off"]
            for mode in ("off", "sync", "deferred", "deferred+written"):
                t = stats[mode]
                rows.append((label, n, slots, mode, shell, t, t / shell, (t - shell) / n * 1000,
                             (t - off) / n * 1000 if mode != "off" else None))
        print(f"\nOrchestration overhead ({args.stat} of {repeats} repeats, chain-2 {repeats * 10}; "
              f"cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f})\n")
        header = f"{'workload':<9} {'nodes':>5} {'slots':>5} {'tracking':>16} {'shell s':>8} {'scanflow s':>10} " \
                 f"{'ratio':>6} {'overhead/node ms':>16} {'tracking/node ms':>16}"
        print(header)
        print("-" * len(header))
        for label, n, slots, track, shell, t, ratio, per_node, tracking in rows:
            tracking_text = "" if tracking is None else f"{tracking:.1f}"
            print(f"{label:<9} {n:>5} {slots:>5} {track:>16} {shell:>8.3f} {t:>10.3f} {ratio:>6.2f} "
                  f"{per_node:>16.1f} {tracking_text:>16}")
        print("\nshell = the same scripts run back to back by a bash `for` loop (no parallelism);"
              "\noverhead/node = (scanflow - shell) / nodes; negative when parallel slots beat the loop;"
              "\ntracking/node = (tracked - untracked) / nodes; deferred+written = deferred, until every"
              "\nrecord is in MLflow (sync_tracking after the return).")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
