"""Requests failed while new champions are promoted under steady load (must be 0).

A real MLflow registry (SQLite, temporary), a real Uvicorn server following the ``champion``
alias (polling every 0.2 s), client threads sending single and batch requests back to back over
HTTP, and promotions of new versions in the registry while they run. Every answer must be 200;
the table shows how many requests each model version answered.

    .venv/bin/python benchmarks/promotion_under_load.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import collections
import os
import tempfile
import threading
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import httpx
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from scanflow.datasets import load_mnist
from scanflow.improve.classifier import MnistCNN
from scanflow.serve.model_slot import ModelSlot, RegistryModelSource
from scanflow.serve.predict import PredictionService, create_prediction_app
from scanflow.serve.server import ServerThread


def register(uri: str, seed: int) -> int:
    from scanflow.models import log_torch_model
    from scanflow.track import get_client, register_model

    client = get_client(uri)
    exp = client.get_experiment_by_name("bench") or client.get_experiment(client.create_experiment("bench"))
    run = client.create_run(exp.experiment_id)
    torch.manual_seed(seed)
    net = MnistCNN().eval()
    model_uri = log_torch_model(net, "model", init_kwargs=net.get_config(), run_id=run.info.run_id)
    client.set_terminated(run.info.run_id)
    return register_model(model_uri, "digits", client=client)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 promotions, 2 clients")
    args = p.parse_args()
    torch.set_num_threads(1)
    n_promotions, n_clients, gap = (3, 2, 1.5) if args.quick else (8, 4, 2.0)
    from scanflow.track import embedded_uri, get_client, promote

    X, _ = load_mnist("test", limit=256)
    with tempfile.TemporaryDirectory() as tmp:
        uri = embedded_uri(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        versions = [register(uri, s) for s in range(n_promotions + 1)]
        promote("digits", versions[0], client=get_client(uri))
        service = PredictionService(ModelSlot(RegistryModelSource("digits", tracking_uri=uri), poll_interval=0.2))
        answered: collections.Counter = collections.Counter()
        failures: list[str] = []
        stop = threading.Event()

        def client(i: int, url: str) -> None:
            rng = np.random.default_rng(i)
            with httpx.Client(base_url=url, timeout=60) as http:
                while not stop.is_set():
                    try:
                        if rng.random() < 0.5:
                            x = X[rng.integers(len(X))]
                            r = http.post("/predict", json={"image_b64": base64.b64encode(x.tobytes()).decode()})
                        else:
                            r = http.post("/predict/batch", json={"images": X[rng.integers(len(X), size=16)].tolist()})
                        if r.status_code == 200:
                            answered[r.json()["model"]["version"]] += 1
                        else:
                            failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
                    except Exception as exc:
                        failures.append(f"{type(exc).__name__}: {exc}")

        t0 = time.time()
        with ServerThread(create_prediction_app(service)) as server:
            threads = [threading.Thread(target=client, args=(i, server.url)) for i in range(n_clients)]
            for t in threads:
                t.start()
            for v in versions[1:]:
                time.sleep(gap)
                promote("digits", v, client=get_client(uri))
            time.sleep(gap)
            stop.set()
            for t in threads:
                t.join()
        elapsed = time.time() - t0
        swaps = service.slot.swaps_
    table = Table(title=f"Promotions under load: {n_clients} clients, {n_promotions} promotions, {elapsed:.0f} s")
    table.add_column("model version")
    table.add_column("requests answered", justify="right")
    table.add_column("load before swap (s)", justify="right")
    load_s = {s["to_version"]: s["load_seconds"] for s in swaps}
    for v in sorted(answered, key=int):
        table.add_row(v, str(answered[v]), f"{load_s.get(v, 0):.2f}")
    table.add_row("[bold]total[/]", str(sum(answered.values())), "")
    table.add_row("[bold]failed requests[/]", f"[bold]{len(failures)}[/]", "")
    Console().print(table)
    for f in failures[:5]:
        print("  failure:", f)
    raise SystemExit(1 if failures or len(answered) < n_promotions + 1 else 0)


if __name__ == "__main__":
    main()
