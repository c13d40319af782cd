"""Latency of /predict with checking (deferred and inline) vs the same model served without it.

Three servers with the same settings (real Uvicorn on 127.0.0.1, same model, same client, the
same input schema): two check every input with the autoencoder detector (and run windowed drift
in the background), one right after the answer (``check="deferred"``, the default) and one
before it (``"check": "inline"``, the score in the response); the third serves the model alone.
They are measured in 20 alternating rounds (5 with ``--quick``). Single requests and batches of 64 (sent with the
server's check mode), p50 and p99, and the ratio to the server without checking.

    .venv/bin/python benchmarks/serve_latency.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import os
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import httpx
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from scanflow.check import AutoencoderDetector
from scanflow.datasets import load_mnist
from scanflow.improve.classifier import MnistCNN
from scanflow.serve.model_slot import ModelSlot, StaticModelSource
from scanflow.serve.predict import PredictionService, create_prediction_app
from scanflow.serve.served_model import detector_schema
from scanflow.serve.server import ServerThread


def measure(url: str, X: np.ndarray, n_single: int, n_batch: int, batch: int,
            check: str | None) -> dict[str, np.ndarray]:
    singles, batches = [], []
    rng = np.random.default_rng(0)
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(5):  # warm-up
            http.post("/predict", json={"image_b64": base64.b64encode(X[0].tobytes()).decode()})
        for _ in range(n_single):
            x = X[rng.integers(len(X))]
            t0 = time.perf_counter()
            r = http.post("/predict", json={"image_b64": base64.b64encode(x.tobytes()).decode()})
            singles.append(time.perf_counter() - t0)
            r.raise_for_status()
        for _ in range(n_batch):
            idx = rng.integers(len(X), size=batch)
            body = {"images_b64": [base64.b64encode(x.tobytes()).decode() for x in X[idx]], "check": check}
            t0 = time.perf_counter()
            r = http.post("/predict/batch", json=body)
            batches.append(time.perf_counter() - t0)
            r.raise_for_status()
    return {"single": np.array(singles) * 1000, "batch": np.array(batches) * 1000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer requests, smaller detector training")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--singles", type=int, default=None,
                   help="single requests per server (default 2000, --quick 100): p99 is the 1%% slowest")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n_single, n_batch = (100, 20) if args.quick else (2000, 100)
    n_single = args.singles or n_single
    X, y = load_mnist("train", limit=500 if args.quick else 2000)
    torch.manual_seed(0)
    net = MnistCNN().eval()  # the demo's architecture; its weights do not change the latency
    det = AutoencoderDetector(epochs=1 if args.quick else 4, random_state=0).fit(X)
    servers, services, modes = {}, {}, {"without checking": None, "checked after the answer": "deferred",
                          "checked inline": "inline"}
    for name, check in modes.items():
        service = PredictionService(ModelSlot(StaticModelSource(net, name="digits"), poll_interval=0),
                                    detector=None if check is None else det, drift_window=200,
                                    input_schema=detector_schema(det), check=check or "deferred")
        servers[name] = ServerThread(create_prediction_app(service)).start()
        services[name] = service
    # The servers alternate in many short rounds, so that a burst of load on the machine (this is a
    # shared VM) hits each of them about as often; a server's checks and drift windows are done before
    # the next one's turn.
    rounds = 5 if args.quick else 20
    parts: dict[str, list] = {name: [] for name in servers}
    try:
        for r in range(rounds):
            for name in (list(servers) if r % 2 == 0 else list(reversed(servers))):
                parts[name].append(measure(servers[name].url, X, n_single // rounds, n_batch // rounds, 64,
                                           modes[name]))
                services[name].wait_for_checks(60)
                if services[name].drift is not None:
                    services[name].drift.flush()
    finally:
        for server in servers.values():
            server.stop()
    results = {name: {kind: np.concatenate([p[kind] for p in ps]) for kind in ("single", "batch")}
               for name, ps in parts.items()}
    table = Table(title=f"/predict latency (ms), {n_single} single requests, {n_batch} batches of 64, "
                        f"torch threads={args.threads}")
    for col in ("request", "server", "p50", "p99", "mean"):
        table.add_column(col, justify="right" if col in ("p50", "p99", "mean") else "left")
    for kind in ("single", "batch"):
        b = results["without checking"][kind]
        for name, r in results.items():
            v = r[kind]
            table.add_row("single" if kind == "single" else "batch of 64", name,
                          f"{np.percentile(v, 50):.2f}", f"{np.percentile(v, 99):.2f}", f"{v.mean():.2f}")
            if modes[name] is not None:
                table.add_row("", f"[bold]ratio to plain[/] ({modes[name]})",
                              f"{np.percentile(v, 50) / np.percentile(b, 50):.2f}x",
                              f"{np.percentile(v, 99) / np.percentile(b, 99):.2f}x", f"{v.mean() / b.mean():.2f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
