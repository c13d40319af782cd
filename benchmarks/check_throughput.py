"""Throughput of AE scoring vs a bare batched torch forward pass of the same network.

* ``bare forward``: the fitted network on a pre-built float32 tensor, batches of 1024,
  ``torch.inference_mode`` — the floor.
* ``reconstruction_error``: the detector's per-sample scoring from uint8 images (input
  validation, uint8 -> float conversion, forward, per-sample error).
* ``predict``: the full batch decision (scores, flags, p-values, KS batch test, result).

Run:  .venv/bin/python benchmarks/check_throughput.py [--quick] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def best_rates(fns, n: int, repeats: int) -> list[float]:
    """Best rate of each function; runs are interleaved so load changes hit all alike."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return [n / b for b in best]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from scanflow.check import AutoencoderDetector
    from scanflow.datasets import load_mnist

    X_train, _ = load_mnist("train", limit=1000)
    X, _ = load_mnist("test", limit=1000 if args.quick else 5000)
    repeats = 2 if args.quick else args.repeats
    # the network's speed does not depend on how long it trained
    det = AutoencoderDetector(epochs=2, min_steps=0, max_restarts=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det.fit(X_train)
    net = det.network
    x_tensor = torch.from_numpy(X.astype(np.float32)[:, None] / 255.0)

    def bare():
        with torch.inference_mode():
            for s in range(0, len(x_tensor), 1024):
                net(x_tensor[s : s + 1024])

    def scoring():
        det.reconstruction_error(X)

    def predict():
        for s in range(0, len(X), 1000):
            det.predict(X[s : s + 1000])

    bare_r, score_r, pred_r = best_rates([bare, scoring, predict], len(X), repeats)
    print(f"AE scoring throughput on {len(X)} MNIST digits, torch threads={args.threads}, "
          f"best of {repeats}")
    print(f"{'path':34s} {'samples/s':>10s} {'vs bare':>8s}")
    print(f"{'bare torch forward (float tensor)':34s} {bare_r:10.0f} {1.0:8.2f}")
    print(f"{'reconstruction_error (uint8 in)':34s} {score_r:10.0f} {score_r / bare_r:8.2f}")
    print(f"{'predict (batches of 1000)':34s} {pred_r:10.0f} {pred_r / bare_r:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
