"""The executors of the demo's ``training`` workflow (run by the scheduler, one process each).

``train`` and ``fit_detector`` run in parallel, then ``deploy`` evaluates the new model and
points the registry's ``champion`` alias at it. Trained weights and the fitted detector are
cached under ``<state>/cache/demo`` by their settings, so a second ``scanflow demo`` skips the
training (the model is still logged and registered as a new version, so every demo starts
from the same baseline champion).

Each step reads the scheduler's environment (``SCANFLOW_STATE_DIR``, ``SCANFLOW_OUTPUT_DIR``,
``MLFLOW_TRACKING_URI``, ``MLFLOW_RUN_ID``) and logs to the node's nested MLflow run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scanflow.models import load_torch_model, log_torch_model
from scanflow.track import (
    get_client,
    log_artifact,
    log_metrics,
    log_params,
    promote,
    register_model,
    tracking_uri,
)

MODEL_NAME = "mnist-cnn"
EVAL_CORRUPTION = "fog"


def _threads() -> None:
    # lazy: torch (importing scanflow.demo must not load it)
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))


def _state() -> Path:
    return Path(os.environ.get("SCANFLOW_STATE_DIR", ".scanflow"))


def _cache() -> Path:
    path = _state() / "cache" / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _output() -> Path:
    path = Path(os.environ.get("SCANFLOW_OUTPUT_DIR", "."))
    path.mkdir(parents=True, exist_ok=True)
    return path


def train(epochs: int = 3, limit: int = 6000, seed: int = 0, channels: list[int] | None = None,
          hidden: int = 128, model: str = MODEL_NAME) -> dict[str, Any]:
    """Train (or load from the cache) the baseline classifier; log and register it."""
    _threads()
    # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
    from scanflow.datasets import load_mnist

    # lazy: scanflow.improve.cache and .classifier import torch (importing scanflow.demo must not)
    from scanflow.improve.cache import cache_key, load_cached, save_cached
    from scanflow.improve.classifier import MnistCNN, accuracy, train_classifier  # lazy: as above

    settings = {"epochs": epochs, "limit": limit, "seed": seed, "channels": channels or [32, 64],
                "hidden": hidden}
    key = cache_key("demo-baseline", settings)
    net = load_cached(_cache(), key, MnistCNN)
    cached = net is not None
    X, y = load_mnist("train", limit=limit)
    if net is None:
        base = MnistCNN(channels=settings["channels"], hidden=hidden)
        net = train_classifier(X, y, epochs=epochs, seed=seed, model=base)
        save_cached(_cache(), key, net, settings)
    net.eval()
    X_test, y_test = load_mnist("test", limit=1000)
    metrics = {"train_accuracy": accuracy(net, X[:2000], y[:2000]),
               "test_accuracy": accuracy(net, X_test, y_test)}
    log_params({**settings, "cached": cached})
    log_metrics(metrics)
    # lazy: scanflow.improve.classifier imports torch (importing scanflow.demo must not)
    from scanflow.improve.classifier import DIGITS

    uri = log_torch_model(net, "model", init_kwargs=net.get_config(), schema=DIGITS)
    version = register_model(uri, model, tags={"scanflow.role": "baseline"},
                             description="baseline trained on clean digits")
    (_output() / "model.json").write_text(json.dumps({"model": model, "version": version, **metrics}))
    return {"model": model, "version": version, "cached": cached, **metrics}


def fit_detector(epochs: int = 6, limit: int = 3000, seed: int = 0) -> dict[str, Any]:
    """Fit (or load from the cache) the autoencoder detector; save it as ``<state>/detector.npz``."""
    _threads()
    # lazy: scanflow.check and scanflow.datasets load SciPy, scanflow.improve.cache torch
    from scanflow.check import AutoencoderDetector, Detector
    from scanflow.datasets import load_mnist  # lazy: as above
    from scanflow.improve.cache import cache_key  # lazy: as above

    settings = {"epochs": epochs, "limit": limit, "seed": seed}
    cached_path = _cache() / f"{cache_key('demo-detector', settings)}.npz"
    cached = cached_path.is_file()
    if cached:
        det = Detector.load(cached_path)
    else:
        X, _ = load_mnist("train", limit=limit)
        det = AutoencoderDetector(epochs=epochs, random_state=seed).fit(X)
        det.save(cached_path)
    target = det.save(_state() / "detector.npz")
    log_params({**settings, "cached": cached})
    ref = det.reference_scores()
    if ref is not None:
        log_metrics({"reference_mean_error": float(ref.mean()), "instance_threshold": float(det.threshold_)})
    log_artifact(target)
    return {"detector": str(target), "cached": cached}


def deploy(model: str = MODEL_NAME, corruption: str = EVAL_CORRUPTION) -> dict[str, Any]:
    """Evaluate the new version on clean and corrupted digits, then make it the champion."""
    _threads()
    # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
    from scanflow.datasets import corrupt, load_mnist

    # lazy: scanflow.improve.classifier imports torch (importing scanflow.demo must not)
    from scanflow.improve.classifier import accuracy

    info = json.loads((_output() / "model.json").read_text())
    version = int(info["version"])
    net = load_torch_model(model, version=version)
    X, y = load_mnist("test", limit=1000)
    metrics = {"clean_accuracy": accuracy(net, X, y),
               f"{corruption}_accuracy": accuracy(net, corrupt(X, corruption, seed=0), y)}
    log_metrics(metrics)
    previous = promote(model, version, client=get_client(tracking_uri()))
    return {"model": model, "champion": version, "previous": previous, **metrics}
