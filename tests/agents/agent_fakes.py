"""Small, real numpy implementations of the heavy work the built-in agents take as callables.

Dependency injection, not mocks: the runtime, store, rules and actuators under test are the
real ones; these stand in for the detector / model registry so tests run in seconds. They also
keep an *external* effects ledger (its own SQLite file, no unique constraint), so a test can
count how many times each side effect really happened.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest


class MeanShiftDetector:
    """Per-sample score = |mean intensity - reference mean| / reference sd; the instance
    threshold is a reference quantile (calibrated once in ``fit``); the batch is drifted when
    more samples cross it than the quantile allows (binomial test)."""

    def __init__(self, *, quantile: float = 0.99, significance: float = 0.01):
        self.quantile = quantile
        self.significance = significance

    def fit(self, X_ref: np.ndarray) -> MeanShiftDetector:
        m = np.asarray(X_ref, float).reshape(len(X_ref), -1).mean(axis=1)
        self.mu_, self.sd_ = float(m.mean()), float(m.std() + 1e-9)
        self.threshold_ = float(np.quantile(np.abs(m - self.mu_) / self.sd_, self.quantile))
        return self

    def predict(self, X: np.ndarray) -> dict[str, Any]:
        m = np.asarray(X, float).reshape(len(X), -1).mean(axis=1)
        scores = np.abs(m - self.mu_) / self.sd_
        flags = scores > self.threshold_
        k, n = int(flags.sum()), len(X)
        p = float(binomtest(k, n, 1 - self.quantile, alternative="greater").pvalue)
        return {"detector": "meanshift", "is_drift": p < self.significance, "score": k / n,
                "threshold": self.significance, "p_value": p, "n_samples": n,
                "is_outlier": flags.tolist(), "instance_scores": scores.tolist(),
                "instance_threshold": self.threshold_}


class Ledger:
    """An external system's log of side effects (no unique key: duplicates would show)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, kind TEXT, "
                      "key TEXT, data TEXT, at REAL)")

    def _conn(self):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        for _ in range(100):  # WAL is a setting of the file: the first process sets it
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal" or \
                        conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                    break
            except sqlite3.OperationalError:  # another process switches it now ("locked")
                time.sleep(0.05)
        return conn

    def add(self, kind: str, key: str, data: Any = None) -> None:
        with self._conn() as c:
            c.execute("INSERT INTO effects (kind, key, data, at) VALUES (?, ?, ?, ?)",
                      (kind, key, json.dumps(data), time.time()))

    def rows(self, kind: str | None = None) -> list[tuple[str, str, Any]]:
        with self._conn() as c:
            q = "SELECT kind, key, data FROM effects" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
            return [(k, key, json.loads(d)) for k, key, d in c.execute(q, (kind,) if kind else ())]


class Registry:
    """A tiny model registry on the ledger: versions, a champion alias with history; it is also
    the improver's ``improvement`` (a new version per labeling round)."""

    def __init__(self, ledger: Ledger, model: str = "clf", base_accuracy: float = 0.80,
                 step: float = 0.01, slow: float = 0.0, rounds: int = 1,
                 notify: tuple[str, ...] = ("improver", "checker")):
        self.ledger = ledger
        self.notify = list(notify)  # the agents that hear the planner's verdict
        self.rounds = rounds
        self.model = model
        self.base_accuracy = base_accuracy
        self.step = step
        self.slow = slow  # seconds each effect takes: widens the window a crash can fall into

    def _versions(self) -> list[dict[str, Any]]:
        return [d for _, _, d in self.ledger.rows("version")]

    def champion_version(self, model: str) -> str | None:
        moves = [d for kind, _, d in self.ledger.rows() if kind in ("promote", "rollback")]
        return moves[-1]["to"] if moves else None

    def improve(self, request: dict[str, Any], key: str) -> dict[str, Any]:
        """The improver's ``improvement``: a new version per round, final at round ``rounds``."""
        found = self.find(key)  # idempotent by key, as the contract asks
        if found is not None:
            return found
        time.sleep(self.slow)
        n = len(self._versions()) + 1
        cand = {"model": self.model, "version": str(n), "strategy": "fake",
                "metrics": {"accuracy": self.base_accuracy + self.step * n},
                "baseline_metrics": {"accuracy": self.base_accuracy + self.step * (n - 1)},
                "episode": request.get("episode"), "round": request.get("round"),
                "final": int(request.get("round", 1)) >= self.rounds,
                "notify": self.notify}
        self.ledger.add("version", key, cand)
        return cand

    def find(self, key: str) -> dict[str, Any] | None:
        for _, k, d in self.ledger.rows("version"):
            if k == key:
                return d
        return None

    def zero_label(self, episode: int, key: str) -> None:
        return None

    def versions_tagged(self, key: str, value: str) -> list[Any]:
        return []

    def set_tag(self, model: str, version: Any, key: str, value: Any) -> None:
        pass

    def promote(self, model: str, version: Any) -> None:
        time.sleep(self.slow)
        self.ledger.add("promote", f"{model}:{version}", {"to": str(version),
                                                        "from": self.champion_version(model)})

    def rollback(self, model: str) -> str:
        moves = [d for kind, _, d in self.ledger.rows() if kind in ("promote", "rollback")]
        target = moves[-1]["from"]
        self.ledger.add("rollback", f"{model}:{target}", {"to": target, "from": moves[-1]["to"]})
        return target


def accuracy_gate(candidate: dict[str, Any]) -> tuple[bool, str]:
    new = candidate["metrics"]["accuracy"]
    old = candidate["baseline_metrics"].get("accuracy", 0.0)
    if new > old:
        return True, f"accuracy {new:.3f} > champion {old:.3f}"
    return False, f"accuracy {new:.3f} <= champion {old:.3f}"


def images(n: int, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """``n`` 8x8 float images around intensity 100, plus ``shift`` (a brightness drift)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(100.0, 20.0, size=(n, 8, 8)) + shift, 0, 255).astype(np.float32)
