"""Where the time of a checked /predict goes, in-process: the floor that one detector pass sets.

One 28×28 digit, the demo's CNN (random weights: they do not change the time) and the default
autoencoder detector, torch on one thread. Medians (µs) of:

* the model's forward pass (``answer``), the detector's score, both back to back;
* ``PredictionService.predict`` without and with the inline check;
* the detector's pass in a second thread beside the model's (why the check is not overlapped);
* the model's forward with a deferred-style check thread beside it (a batch of 32 every
  50 ms), at normal and at idle CPU priority: p50 / p99 / p99.9.

Together with ``serve_latency.py`` (the whole HTTP request) it shows what an inline check must
cost at least: the detector's pass after the model's.

    .venv/bin/python benchmarks/check_cost.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from scanflow.check import AutoencoderDetector
from scanflow.datasets import load_mnist
from scanflow.improve.classifier import MnistCNN
from scanflow.serve.cpu_priority import idle_priority_available, set_idle
from scanflow.serve.model_slot import ModelSlot, StaticModelSource
from scanflow.serve.predict import PredictionService
from scanflow.serve.served_model import answer, detector_schema


def timings(fn, n: int, pause: float = 0.0) -> np.ndarray:
    for _ in range(min(300, n)):
        fn()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
        if pause:
            time.sleep(pause)  # the client's part of a request: the core is free meanwhile
    return out * 1e6


def beside(fn, n: int, check, idle: bool | None) -> np.ndarray:
    """``fn``'s timings while a thread runs ``check`` every 50 ms (None: no such thread)."""
    stop = threading.Event()

    def worker() -> None:
        if idle:
            set_idle(None, True)
        while not stop.is_set():
            check()
            stop.wait(0.05)

    thread = threading.Thread(target=worker, daemon=True) if idle is not None else None
    if thread:
        thread.start()
    try:
        return timings(fn, n, pause=0.0008)
    finally:
        stop.set()
        if thread:
            thread.join()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = p.parse_args()
    n = 500 if args.quick else 4000
    torch.set_num_threads(1)
    X, _ = load_mnist("train", limit=300)
    torch.manual_seed(0)
    det = AutoencoderDetector(epochs=1, min_steps=50, random_state=0).fit(X)
    net = MnistCNN().eval()
    x, batch = X[:1], X[:32]
    services = {check: PredictionService(ModelSlot(StaticModelSource(net, name="digits"), poll_interval=0),
                                         detector=det if check else None, drift_window=200,
                                         input_schema=detector_schema(det), check="inline").start()
                for check in (False, True)}
    model = services[False].slot.get().model
    pool = ThreadPoolExecutor(1)

    def in_parallel():
        pending = pool.submit(det.score, x)
        answer(model, x)
        pending.result()

    rows = [
        ("model forward (answer)", timings(lambda: answer(model, x), n)),
        ("detector score", timings(lambda: det.score(x), n)),
        ("answer, then score", timings(lambda: (answer(model, x), det.score(x)), n)),
        ("score in a 2nd thread beside answer", timings(in_parallel, n)),
        ("predict, unchecked", timings(lambda: services[False].predict(x), n)),
        ("predict, checked inline", timings(lambda: services[True].predict(x), n)),
    ]
    table = Table(title=f"One 28x28 digit, torch threads=1, {n} repetitions (µs)")
    for col in ("what", "p50"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for name, t in rows:
        table.add_row(name, f"{np.median(t):.0f}")
    Console().print(table)

    contention = Table(title="Model forward with a check thread beside it (a batch of 32 every 50 ms), µs")
    for col in ("check thread", "p50", "p99", "p99.9"):
        contention.add_column(col, justify="left" if col == "check thread" else "right")
    modes = {"none": None, "normal priority": False}
    if idle_priority_available():
        modes["idle priority (SCHED_IDLE)"] = True
    for name, idle in modes.items():
        t = beside(lambda: answer(model, x), n, lambda: det.score(batch), idle)
        contention.add_row(name, *(f"{np.percentile(t, q):.0f}" for q in (50, 99, 99.9)))
    Console().print(contention)
    for svc in services.values():
        svc.stop()


if __name__ == "__main__":
    main()
