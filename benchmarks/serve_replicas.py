"""Replicated serving: throughput of 1, 2 and 4 Ray Serve replicas on a simulated cluster.

A simulated Ray cluster (``ray.cluster_utils.Cluster``: a head and two worker nodes, every
process on 127.0.0.1, dashboards off, a small object store each) serves the same registered
torch network and fitted autoencoder detector as ``serve_throughput.py``, through
:func:`scanflow.serve.ray_serving.serve_replicas`: every replica loads the champion from the
MLflow registry and checks every input (right after the answer: the service's default), and one
aggregate drift window takes the inputs
of all replicas. 16 concurrent clients (a closed loop of raw HTTP/1.1, in a process of their
own) send single images to the one endpoint, Ray Serve's proxy on the head node. Reported per
replica count: requests per second (median over rounds), latency p50 / p99 (ms), the ratio to
1 replica, failed requests, and the samples the aggregate drift window received.

The replicas share the machine's cores (printed with the table): on 2 cores, 4 replicas cannot
scale linearly; the numbers are what this machine gives. Predictions are not logged to a state
database here (as in ``serve_throughput.py``); each replica's torch uses one thread.

    .venv/bin/python benchmarks/serve_replicas.py [--quick] [--clients 16] [--replicas 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the Ray workers: one torch thread per replica
os.environ.setdefault("RAY_SERVE_LOG_TO_STDERR", "0")
# A loopback-only cluster: without this, Ray resolves 127.0.0.1 in an address to the machine's
# routable IP (where nothing listens, since every node is bound to 127.0.0.1).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_throughput import fixtures, run_clients, write_bodies  # noqa: E402

ARCH = "scanflow.improve.classifier:MnistCNN"


def register(net, folder: Path) -> str:
    """A fresh MLflow SQLite registry with the network as version 1 of ``digits`` (champion)."""
    from mlflow import MlflowClient

    from scanflow.models import as_model, log_model

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench", artifact_location=(folder / "artifacts").as_uri())
    run = client.create_run(experiment)
    info = log_model(as_model(net), "model", run_id=run.info.run_id, registered_model_name="digits")
    client.set_terminated(run.info.run_id)
    client.set_registered_model_alias("digits", "champion", str(info.version))
    return uri


def start_cluster(workers: int, cpus: int, temp_dir: Path):
    """A head and ``workers`` worker nodes on 127.0.0.1, ``cpus`` logical CPUs each; Ray's
    session files go to ``temp_dir``. (Ray still records the head's address in
    /tmp/ray/ray_current_cluster: a bare ``ray.init()`` elsewhere on the machine meanwhile
    would join this cluster; Scanflow's own code always passes ``address="local"``.)"""
    import ray
    from ray.cluster_utils import Cluster

    node = {"num_cpus": cpus, "object_store_memory": 100 * 1024**2, "node_ip_address": "127.0.0.1",
            "temp_dir": str(temp_dir)}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    for _ in range(workers):
        cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    return cluster


def measure(settings, n: int, args, bodies: Path, port: int) -> dict:
    """Serve ``n`` replicas, load them, and delete them; the rounds and the aggregate's count."""
    from scanflow.serve.ray_serving import serve_replicas

    service = serve_replicas(settings, replicas=n, port=port, name=f"bench-{n}")
    try:
        run_clients(service.url, 2.0, args.clients, bodies)  # warm-up: connections, caches
        outs = [run_clients(service.url, args.seconds, args.clients, bodies) for _ in range(args.rounds)]
        time.sleep(1.0)  # the replicas ship their last inputs to the aggregate every 0.25 s
        status = service.status()
    finally:
        service.shutdown()
    return {"outs": outs, "drift_samples": status["drift_samples"], "replicas": len(status["replicas"])}


def print_table(results: dict, args, nodes: int) -> None:
    base = statistics.median(o["n"] / o["seconds"] for o in results[min(results)]["outs"])
    print(f"\n/predict on Ray Serve replicas, {args.clients} concurrent clients, single images, every "
          f"input checked (after the answer, the default); simulated cluster of {nodes} nodes on 127.0.0.1 ({args.cpus} logical CPUs "
          f"each); median of {args.rounds} round(s) of {args.seconds:.0f} s; cpu count "
          f"{os.cpu_count()}, load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'replicas':>8} {'req/s':>8} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'drift samples (all replicas)':>29}")
    for n, r in results.items():
        outs = r["outs"]
        rps = statistics.median(o["n"] / o["seconds"] for o in outs)
        lat = np.concatenate([o["latencies"] for o in outs]) * 1000
        print(f"{n:>8} {rps:>8.1f} {rps / base:>6.2f}x {np.percentile(lat, 50):>8.1f} "
              f"{np.percentile(lat, 99):>8.1f} {sum(o['errors'] for o in outs):>7} "
              f"{r['drift_samples']:>29}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one round of 3 s per replica count (CI)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--workers", type=int, default=2, help="worker nodes beside the head")
    p.add_argument("--cpus", type=int, default=2, help="logical CPUs per node")
    p.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    args = p.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.seconds = 3.0 if args.quick else 10.0
    import ray
    from ray import serve

    from scanflow.serve.replica_app import ReplicaSettings
    from scanflow.serve.server import free_port

    with tempfile.TemporaryDirectory(prefix="scanflow-replicas-bench-") as tmp:
        folder = Path(tmp)
        net, _ = fixtures(args.quick, folder)
        settings = ReplicaSettings(
            model="digits", tracking_uri=register(net, folder), trust={"trusted_architectures": (ARCH,)},
            detector_path=str(folder / "detector.npz"), window=200, poll_interval=5.0, replica_cpus=1.0)
        bodies = write_bodies(folder)
        ray_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths
        cluster = start_cluster(args.workers, args.cpus, ray_dir)
        port = free_port()
        try:
            results = {n: measure(settings, n, args, bodies, port) for n in args.replicas}
        finally:
            serve.shutdown()
            ray.shutdown()
            cluster.shutdown()
            shutil.rmtree(ray_dir, ignore_errors=True)
    print_table(results, args, 1 + args.workers)


if __name__ == "__main__":
    main()
