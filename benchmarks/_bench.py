"""Shared pieces of the loop benchmarks (lifecycle, zero_label, selection_families).

Not a benchmark itself: command-line options every script takes, the cached models they
share (the clean-MNIST champion CNN, the autoencoder detector, the segment pipeline and its
detector), markdown tables, mean ± std, and the ``--output`` writer (JSON + markdown).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np

DEFAULT_CACHE = Path(".scanflow/bench-cache")
_T0 = time.perf_counter()


# ----------------------------------------------------------------------------- command line
def parser(doc: str) -> argparse.ArgumentParser:
    """The options every loop benchmark takes (``--quick``, ``--seeds``, ``--cache``,
    ``--output``, ``--threads``)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    ap.add_argument("--quick", action="store_true", help="a cut run (a few minutes)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds 0..N-1")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help=f"folder of cached trained models (default {DEFAULT_CACHE})")
    ap.add_argument("--output", type=Path, default=None,
                    help="folder to write results.json and results.md to")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a busy 2-core machine)")
    return ap


def setup_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def say(msg: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def elapsed() -> float:
    return time.perf_counter() - _T0


# ----------------------------------------------------------------------------- numbers
def mean_std(values: Iterable[float | None]) -> tuple[float, float] | None:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return None
    return float(np.mean(vals)), float(np.std(vals))


def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}"


def pct_ms(values: Iterable[float | None], digits: int = 1) -> str:
    """``mean ± std`` in percent over seeds (just the mean for one value)."""
    vals = [v for v in values if v is not None and not math.isnan(float(v))]
    ms = mean_std(vals)
    if ms is None:
        return "—"
    return f"{100 * ms[0]:.{digits}f}" + (f" ± {100 * ms[1]:.{digits}f}" if len(vals) > 1 else "")


def num_ms(values: Iterable[float | None], digits: int = 0) -> str:
    vals = [v for v in values if v is not None and not math.isnan(float(v))]
    ms = mean_std(vals)
    if ms is None:
        return "—"
    return f"{ms[0]:.{digits}f}" + (f" ± {ms[1]:.{digits}f}" if len(vals) > 1 else "")


# ----------------------------------------------------------------------------- tables
def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """A GitHub markdown table (also what is printed): first column left, the rest right."""
    cells = [[str(h) for h in headers]] + [["—" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    left = [i == 0 or any(_is_text(r[i]) for r in cells[1:]) for i in range(len(headers))]

    def line(r):
        return "| " + " | ".join(c.ljust(w) if left[i] else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(r, widths, strict=True))) + " |"
    sep = "| " + " | ".join(("-" * w if left[i] else "-" * (w - 1) + ":")
                            for i, w in enumerate(widths)) + " |"
    out = [line(cells[0]), sep] + [line(r) for r in cells[1:]]
    return (f"**{title}**\n\n" if title else "") + "\n".join(out)


def _is_text(cell: str) -> bool:
    """Whether a cell reads as words (left-aligned) rather than a number (right-aligned)."""
    return bool(cell) and (cell[0].isalpha() and cell not in ("n/a",)) and not cell.startswith("—")


class Report:
    """Collects printed sections; ``write`` puts them in ``results.md`` next to ``results.json``."""

    def __init__(self, title: str):
        self.title = title
        self.sections: list[str] = []

    def add(self, text: str) -> None:
        print(text, end="\n\n", flush=True)
        self.sections.append(text)

    def write(self, output: Path | None, results: dict[str, Any]) -> None:
        if output is None:
            return
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(results, indent=1, default=_json))
        (output / "results.md").write_text(f"# {self.title}\n\n" + "\n\n".join(self.sections) + "\n")
        print(f"wrote {output / 'results.json'} and {output / 'results.md'}")


def _json(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ----------------------------------------------------------------------------- cached models
def champion_cnn(X_train, y_train, *, epochs: int, seed: int, cache: Path):
    """The clean-MNIST champion (``train_classifier``), cached by settings and data, as an
    adapter with the digits schema."""
    from scanflow.improve.cache import cache_key, data_fingerprint, load_cached, save_cached
    from scanflow.improve.classifier import DIGITS, MnistCNN, train_classifier
    from scanflow.models import as_model

    settings = {"epochs": epochs, "seed": seed, "data": data_fingerprint(X_train, y_train),
                "arch": MnistCNN().get_config()}
    key = cache_key("bench-champion", settings)
    net = load_cached(cache, key, MnistCNN)
    if net is None:
        t0 = time.perf_counter()
        net = train_classifier(X_train, y_train, epochs=epochs, seed=seed)
        save_cached(cache, key, net, settings)
        say(f"trained the champion CNN (seed {seed}, {epochs} epochs) in {time.perf_counter() - t0:.0f} s")
    return as_model(net.eval(), schema=DIGITS)


def fitted_detector(kind: str, X_train, *, seed: int, epochs: int, cache: Path):
    """A detector fitted on the clean training data, cached: ``ae`` (AutoencoderDetector, for
    images) or ``default`` (default_detector, for tables)."""
    from scanflow.check import AutoencoderDetector, Detector, default_detector
    from scanflow.improve.cache import cache_key, data_fingerprint

    data = np.ascontiguousarray(X_train.to_numpy() if hasattr(X_train, "to_numpy") else X_train)
    settings = {"kind": kind, "seed": seed, "epochs": epochs, "data": data_fingerprint(data)}
    path = Path(cache) / f"{cache_key('bench-detector', settings)}.npz"
    if path.is_file():
        try:
            return Detector.load(path)
        except (ValueError, OSError):
            pass  # a damaged entry is refitted
    t0 = time.perf_counter()
    det = (AutoencoderDetector(epochs=epochs, random_state=seed) if kind == "ae"
           else default_detector(random_state=seed, epochs=epochs))
    det.fit(X_train)
    path.parent.mkdir(parents=True, exist_ok=True)
    det.save(path)
    say(f"fitted the {kind} detector (seed {seed}) in {time.perf_counter() - t0:.0f} s")
    return det


def segment_pipeline(X_train, y_train, seed: int):
    """The tabular example's model: StandardScaler + MLPClassifier(64) (seconds to fit)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scanflow.models import InputSchema, as_model

    pipe = make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=600, random_state=seed))
    with warnings.catch_warnings():  # 600 iterations, as the example trains it, may not converge
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X_train, y_train)
    return as_model(pipe, schema=InputSchema.from_data(X_train))
