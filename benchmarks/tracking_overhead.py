"""Tracking overhead: a node logging 1,000 metrics through Scanflow vs through plain ``mlflow``,
against the same SQLite store.

Compared, for the same 1,000 values (a loss curve: one metric over 1,000 steps):
  mlflow.log_metric loop      plain mlflow, one call per value (what node code usually does)
  mlflow.log_metrics per step plain mlflow, one call per step with a one-entry dict
  MlflowClient.log_batch      plain mlflow, one hand-built batch (the fastest plain API)
  scanflow log_metric_series  Scanflow's helper (batched)
  scanflow log_metrics loop   Scanflow's helper called once per step (worst use of it)

Times are in-process logging only (imports and store creation excluded), median of repeats;
``ratio`` is the time of a method over the plain ``mlflow.log_metric`` loop. A second table times
the whole node as a subprocess (interpreter start, imports, logging) for the loop and the helper.

    .venv/bin/python benchmarks/tracking_overhead.py [--quick] [--repeats N] [--values N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 values, one repeat, in-process table only (well under a minute)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--values", type=int, default=None, help="default 1000 (200 with --quick)")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    args.values = args.values or (200 if args.quick else 1000)

    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from scanflow.track import log_metric_series, log_metrics
    from scanflow.track.recorder import enable_wal

    root = Path(tempfile.mkdtemp(prefix="scanflow-track-bench-"))
    try:
        uri = f"sqlite:///{root / 'mlflow.db'}"
        enable_wal(uri)  # the store as Scanflow sets it up (same for every method)
        client = MlflowClient(uri)
        experiment = client.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
        os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)
        values = [1.0 / (i + 1) for i in range(args.values)]

        def new_run() -> str:
            run_id = client.create_run(experiment).info.run_id
            os.environ["MLFLOW_RUN_ID"] = run_id  # what every Scanflow node receives
            return run_id

        def plain_loop():
            run_id = new_run()
            with mlflow.start_run(run_id=run_id):
                for i, v in enumerate(values):
                    mlflow.log_metric("loss", v, step=i)

        def plain_per_step():
            run_id = new_run()
            with mlflow.start_run(run_id=run_id):
                for i, v in enumerate(values):
                    mlflow.log_metrics({"loss": v}, step=i)

        def plain_batch():
            run_id = new_run()
            ts = int(time.time() * 1000)
            metrics = [Metric("loss", v, ts, i) for i, v in enumerate(values)]
            for i in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[i:i + 1000])

        def scanflow_series():
            new_run()
            log_metric_series("loss", values)

        def scanflow_per_step():
            new_run()
            for i, v in enumerate(values):
                log_metrics({"loss": v}, step=i)

        methods = [("mlflow.log_metric loop", plain_loop), ("MlflowClient.log_batch", plain_batch),
                   ("scanflow log_metric_series", scanflow_series)]
        if not args.quick:
            methods[1:1] = [("mlflow.log_metrics per step", plain_per_step)]
            methods.append(("scanflow log_metrics loop", scanflow_per_step))

        def timed(fn) -> float:
            started = time.perf_counter()
            fn()
            return time.perf_counter() - started

        scanflow_series()  # warm-up: connection pools, first queries
        plain_batch()
        results = [(name, statistics.median(timed(fn) for _ in range(repeats))) for name, fn in methods]
        baseline = results[0][1]
        print(f"\nTracking overhead: {args.values} metric values into one run, SQLite store "
              f"(median of {repeats}; load average {os.getloadavg()[0]:.1f})\n")
        header = f"{'method':<28} {'seconds':>8} {'ms/value':>9} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        for name, seconds in results:
            print(f"{name:<28} {seconds:>8.3f} {seconds / args.values * 1000:>9.3f} {seconds / baseline:>7.3f}")

        if args.quick:
            return
        # Whole nodes: a fresh interpreter that imports its library and logs the curve.
        node_plain = textwrap.dedent(f"""
            import mlflow
            with mlflow.start_run():
                for i in range({args.values}):
                    mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        """)
        node_scanflow = textwrap.dedent(f"""
            from scanflow.track import log_metric_series
            log_metric_series("loss", [1.0 / (i + 1) for i in range({args.values})])
        """)
        rows = []
        for name, code in (("node: mlflow.log_metric loop", node_plain),
                           ("node: scanflow log_metric_series", node_scanflow)):
            def run_node(code=code) -> float:
                env = {**os.environ, "MLFLOW_RUN_ID": client.create_run(experiment).info.run_id}
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, env=env)
                return time.perf_counter() - started
            rows.append((name, statistics.median(run_node() for _ in range(repeats))))
        print()
        header = f"{'whole node (subprocess)':<34} {'seconds':>8} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        for name, seconds in rows:
            print(f"{name:<34} {seconds:>8.2f} {seconds / rows[0][1]:>7.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
