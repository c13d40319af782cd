"""The paper's experiment on MNIST-C: detect, select, label, improve, gate, promote.

Setting (per seed):

1. Train the base CNN on clean digits (``load_mnist("train")``) and fit the autoencoder
   detector on the same images; both are cached per seed in ``<state>/cache``.
2. Split ``load_mnist("test")`` at random into a **pool** (the stream the selector picks from)
   and a disjoint **evaluation** part. Each sample of the pool and of the evaluation part gets
   one MNIST-C corruption drawn uniformly (the *mixed* stream, through
   :func:`scanflow.datasets.make_stream`). Evaluation slices: ``drifted`` (the mixed
   corruptions, broken down per corruption as ``drifted:<name>``) and ``clean`` (the first
   ``clean_size`` evaluation images uncorrupted: only evaluation ever sees them).
3. For every selection strategy and budget, select from the pool, label with the oracle (the
   pool's ground truth: ``labeler="oracle"``, never a human) and, for every improvement
   strategy, build a candidate with :func:`scanflow.improve.loop.run_round` and evaluate it.
4. A clean stream (the pool without corruption) goes through the same round with the paper's
   selector: it must lead to no promotion.
5. The best combination at ``best_budget`` labels is registered in the run's MLflow store
   (base model = version 1 = ``champion``) and promoted through the evaluation gate.

:func:`run_experiment` returns a plain dict (also written as ``results.json`` by the report).

Example (the quick grid is what ``scanflow experiment mnist-c --quick`` runs)::

    >>> cfg = ExperimentConfig.quick_config()          # doctest: +SKIP
    >>> results = run_experiment(cfg, "out/state")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scanflow.app import Application
from scanflow.check import AutoencoderDetector, Detector
from scanflow.datasets import CORRUPTIONS, load_mnist, make_stream
from scanflow.track import get_alias_version, get_client, promote, tracking_uri
from scanflow.track.store import ensure_experiment

from .gate import EvaluationGate, register_candidate
from .labelers import OracleLabeler
from .selection import SELECTORS, get_selector

__all__ = ["ExperimentConfig", "aggregate", "run_experiment"]

ALL_SELECTIONS = ("reconstruction", "entropy", "margin", "hybrid", "kcenter", "random")
ALL_STRATEGIES = ("retrain", "denoiser", "combined")
MODEL_NAME = "mnist-c-classifier"


@dataclass
class ExperimentConfig:
    """Settings of the MNIST-C experiment (the full grid by default)."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    budgets: list[int] = field(default_factory=lambda: [20, 50, 100, 200])
    selections: list[str] = field(default_factory=lambda: list(ALL_SELECTIONS))
    strategies: list[str] = field(default_factory=lambda: list(ALL_STRATEGIES))
    corruptions: list[str] | None = None  # None: every corruption of scanflow.datasets
    train_size: int | None = None  # None: all 6,000 training digits; else the first ones
    pool_size: int = 2500
    eval_size: int = 2500
    clean_size: int = 1000
    base_epochs: int = 5
    detector_epochs: int = 12
    best_budget: int = 100
    min_gain: float = 0.02
    max_clean_drop: float = 0.01
    labeler: str = "oracle"
    threads: int | None = None
    quick: bool = False
    strategy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    selection_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def quick_config(cls, **overrides) -> ExperimentConfig:
        """The smoke test (about a minute on 2 idle cores): every stage once, on less data.

        One seed; 2,000 training digits; the base CNN and the detector trained briefly; a
        pool and evaluation slices of 800 / 800 / 300 digits; two selectors (the detector's
        and random, the report's baseline) at one budget of 50 labels; the retrain and
        denoiser strategies, each with short training (the denoiser's fine-tuning through
        the frozen classifier was half of the profile). Its figures are a smoke test,
        not the experiment's result (the report says "quick run"). One torch thread: these
        small networks gain little from a second one, and on shared cores a second thread
        spin-waits (the autoencoder's fit took 8x the CPU time with 2 threads than with 1
        under a load of 10 on 2 cores).
        """
        cfg = cls(
            seeds=[0],
            budgets=[50],
            selections=["reconstruction", "random"],
            strategies=["retrain", "denoiser"],
            train_size=2000,
            pool_size=800,
            eval_size=800,
            clean_size=300,
            base_epochs=2,
            detector_epochs=3,
            best_budget=50,
            threads=1,
            quick=True,
            strategy_params={
                "retrain": {"epochs": 1, "replay": 500},
                "denoiser": {"pretrain_steps": 100, "steps": 40},
            },
        )
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg

    @classmethod
    def from_options(
        cls,
        *,
        quick: bool = False,
        seeds: int | None = None,
        threads: int | None = None,
        budgets: list[int] | None = None,
        selections: list[str] | None = None,
        strategies: list[str] | None = None,
    ) -> ExperimentConfig:
        """The grid of ``scanflow experiment mnist-c``: the full or quick one with the options
        given (``seeds``: how many, from 0), validated. Given budgets, the best combination is
        picked at the largest budget up to 100 labels (else at the smallest)."""
        cfg = cls.quick_config() if quick else cls()
        if seeds:
            cfg.seeds = list(range(seeds))
        if threads:
            cfg.threads = threads
        if budgets:
            cfg.budgets = budgets
            cfg.best_budget = (
                max(b for b in budgets if b <= 100) if min(budgets) <= 100 else min(budgets)
            )
        if selections:
            cfg.selections = selections
        if strategies:
            cfg.strategies = strategies
        cfg.validate()
        return cfg

    def use_human_round(self, selection: str, strategy: str, budget: int) -> None:
        """Cut the grid to the one round people label: first seed, one cell, ``budget`` labels."""
        self.seeds = self.seeds[:1]
        self.selections, self.strategies = [selection], [strategy]
        self.budgets, self.best_budget = [budget], budget
        self.labeler = "human"

    def validate(self) -> None:
        from .strategies import STRATEGIES  # lazy: strategies import torch

        bad = [s for s in self.selections if s not in SELECTORS]
        if bad:
            raise ValueError(f"selections: unknown {bad}; choose from {list(SELECTORS)}")
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ValueError(f"strategies: unknown {bad}; choose from {list(STRATEGIES)}")
        if self.train_size is not None and self.train_size < 100:
            raise ValueError(f"train_size={self.train_size}: give at least 100 (or None: all)")
        if not self.seeds:
            raise ValueError("seeds: give at least one seed")
        if any(b <= 0 for b in self.budgets) or not self.budgets:
            raise ValueError(f"budgets must be positive integers, got {self.budgets}")
        if self.pool_size + self.eval_size > 5000:
            raise ValueError(
                f"pool_size + eval_size = {self.pool_size + self.eval_size} exceeds the 5,000 "
                "images of the test split; lower one of them"
            )
        if self.clean_size > self.eval_size:
            raise ValueError("clean_size cannot exceed eval_size")


# ----------------------------------------------------------------------------------- data
@dataclass
class SeedData:
    """The data of one seed: training set, pool, evaluation slices."""

    seed: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_pool: np.ndarray
    y_pool: np.ndarray
    pool_corruption: np.ndarray
    X_pool_clean: np.ndarray
    y_pool_clean: np.ndarray
    slices: dict[str, tuple[np.ndarray, np.ndarray]]


def _mixed(X, y, corruptions, seed):
    batches = make_stream(
        X,
        y,
        batch_size=100,
        n_clean=0,
        n_drift=-(-len(X) // 100),
        corruption=list(corruptions),
        seed=seed,
    )
    Xs = np.concatenate([b.X for b in batches])[: len(X)]
    ys = np.concatenate([b.y for b in batches])[: len(X)]
    cs = np.concatenate([b.corruption for b in batches])[: len(X)]
    return Xs, ys, cs


def make_seed_data(cfg: ExperimentConfig, seed: int) -> SeedData:
    """Split the test digits into a disjoint pool and evaluation part, and corrupt them."""
    corruptions = list(cfg.corruptions or CORRUPTIONS)
    X_train, y_train = load_mnist("train", limit=cfg.train_size)
    X_test, y_test = load_mnist("test")
    perm = np.random.default_rng(10_000 + seed).permutation(len(X_test))
    pool_idx = perm[: cfg.pool_size]
    eval_idx = perm[cfg.pool_size : cfg.pool_size + cfg.eval_size]
    assert not set(pool_idx) & set(eval_idx)
    X_pool, y_pool, c_pool = _mixed(
        X_test[pool_idx], y_test[pool_idx], corruptions, 1000 * seed + 1
    )
    X_eval, y_eval, c_eval = _mixed(
        X_test[eval_idx], y_test[eval_idx], corruptions, 1000 * seed + 2
    )
    clean_idx = eval_idx[: cfg.clean_size]
    slices: dict[str, tuple] = {
        "drifted": (X_eval, y_eval, c_eval),  # per-corruption accuracy from the same pass
        "clean": (X_test[clean_idx], y_test[clean_idx]),
    }
    return SeedData(
        seed, X_train, y_train, X_pool, y_pool, c_pool, X_test[pool_idx], y_test[pool_idx], slices
    )


# ----------------------------------------------------------------------------------- models
def base_model(cfg: ExperimentConfig, data: SeedData, cache_dir: Path):
    """The base CNN of this seed, trained on clean digits (cached)."""
    from .cache import cache_key, data_fingerprint, load_cached, save_cached  # lazy: torch
    from .classifier import MnistCNN, train_classifier  # lazy: torch

    settings = {
        "epochs": cfg.base_epochs,
        "seed": data.seed,
        "data": data_fingerprint(data.X_train, data.y_train),
        "arch": MnistCNN().get_config(),
    }
    key = cache_key("base-cnn", settings)
    model = load_cached(cache_dir, key, MnistCNN)
    if model is None:
        model = train_classifier(data.X_train, data.y_train, epochs=cfg.base_epochs, seed=data.seed)
        save_cached(cache_dir, key, model, settings)
    return model


def fit_detector(cfg: ExperimentConfig, data: SeedData, cache_dir: Path):
    """The autoencoder detector of this seed, fitted on the clean training digits (cached)."""
    from .cache import cache_key, data_fingerprint  # lazy: the cache module imports torch

    settings = {
        "epochs": cfg.detector_epochs,
        "seed": data.seed,
        "data": data_fingerprint(data.X_train),
    }
    path = Path(cache_dir) / f"{cache_key('detector', settings)}.npz"
    if path.is_file():
        try:
            return Detector.load(path)
        except (ValueError, OSError):
            pass  # a damaged cache entry is refitted
    det = AutoencoderDetector(
        epochs=cfg.detector_epochs, random_state=data.seed, n_threads=cfg.threads
    )
    det.fit(data.X_train)
    path.parent.mkdir(parents=True, exist_ok=True)
    det.save(path)
    return det


def _strategy(cfg: ExperimentConfig, name: str, cache_dir: Path):
    from .strategies import get_strategy  # lazy: strategies import torch

    return get_strategy(name, cache_dir=str(cache_dir), **cfg.strategy_params.get(name, {}))


def _ordered(strategies: list[str]) -> list[str]:
    """Denoiser before combined, so combined can build on the denoiser's candidate."""
    return sorted(strategies, key=lambda s: {"denoiser": 0, "combined": 1}.get(s, -1))


class _Behind:
    """Retrain the classifier behind an already-made denoised candidate."""

    name = "combined"

    def __init__(self, wrapped, retrain):
        self.wrapped = wrapped
        self.retrain = retrain

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        return self.retrain.improve(self.wrapped, X_train, y_train, X_labeled, y_labeled, seed)


def _fingerprint(cfg: ExperimentConfig) -> str:
    """Hash of the settings that change a grid cell's result (not the grid's extent)."""
    from .cache import cache_key  # lazy: the cache module imports torch

    keep = {
        k: v
        for k, v in asdict(cfg).items()
        if k
        not in ("seeds", "budgets", "selections", "strategies", "threads", "quick", "best_budget")
    }
    return cache_key("grid", keep).split("-", 1)[1]


def _row_key(seed, selection, strategy, budget) -> str:
    return f"{seed}/{selection}/{strategy}/{budget}"


def _read_journal(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None or not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            out[entry["key"]] = entry["row"]
        except (ValueError, KeyError):
            continue  # a line cut short by an interruption
    return out


def _selector(cfg: ExperimentConfig, name: str):
    return get_selector(name, **cfg.selection_params.get(name, {}))


# ----------------------------------------------------------------------------------- running
@dataclass
class _SeedRun:
    """One seed's data, base model and detector, the base model's metrics and the labeler."""

    data: SeedData
    base: Any
    detector: Any
    base_metrics: dict[str, float]
    labeler: Any

    @property
    def seed(self) -> int:
        return self.data.seed


@dataclass
class _Picked:
    """The samples one selector picked at one budget; every strategy's grid cell uses them."""

    selection: str
    selector: Any
    budget: int
    indices: np.ndarray
    corruption_counts: dict[str, int]


@dataclass
class _GridRun:
    """The shared state of one :func:`run_experiment` call: its settings and results so far."""

    cfg: ExperimentConfig
    state: Path
    gate: EvaluationGate
    say: Callable[[str], None]
    labeler_factory: Callable[[SeedData, Any], Any] | None
    journal: Path | None  # finished grid cells, one JSON line each (None: resuming is off)
    finished: dict[str, dict[str, Any]]  # the journal's rows by _row_key
    keep_budget: int | None  # first-seed candidates at this budget are kept for the registry
    started: float = field(default_factory=time.perf_counter)
    rows: list[dict[str, Any]] = field(default_factory=list)
    per_seed: list[dict[str, Any]] = field(default_factory=list)
    clean_stream: list[dict[str, Any]] = field(default_factory=list)
    seeds: dict[int, _SeedRun] = field(default_factory=dict)
    kept: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        return self.state / "cache"

    def record(self, key: str, row: dict[str, Any]) -> None:
        """Keep a finished grid cell's row, and journal it when resuming is on."""
        self.rows.append(row)
        if self.journal is not None:
            with open(self.journal, "a") as fh:
                fh.write(json.dumps({"key": key, "row": row}) + "\n")


def _row(seed: int, picked: _Picked, strategy: str, result) -> dict[str, Any]:
    """The result row of one grid cell."""
    metrics = result.candidate_metrics or {}
    return {
        "seed": seed,
        "selection": picked.selection,
        "strategy": strategy,
        "budget": picked.budget,
        "labels_used": result.labels_used,
        "promote": result.decision.promote,
        "reason": result.decision.reason,
        "metrics": {k: v for k, v in metrics.items() if k.endswith("_accuracy")},
        "selected_corruptions": picked.corruption_counts,
        "seconds": round(sum(result.timings.values()), 2),
    }


def _run_round(*args, **kwargs):
    """:func:`scanflow.improve.loop.run_round`, imported on first use."""
    from .loop import run_round  # lazy: the loop imports torch; importing this module stays cheap

    return run_round(*args, **kwargs)


def run_experiment(
    cfg: ExperimentConfig,
    state_dir: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
    labeler_factory: Callable[[SeedData, Any], Any] | None = None,
    register: bool = True,
    resume: bool = True,
) -> dict[str, Any]:
    """Run the grid of :class:`ExperimentConfig`; return the results as a JSON-ready dict.

    ``labeler_factory(seed_data, base_model)`` builds the labeler (default: an ``OracleLabeler`` over the
    pool's ground truth). ``register`` logs the base and the best candidate to the MLflow
    store under ``state_dir`` and lets the gate promote. ``resume`` journals every finished
    grid cell in ``state_dir/rows-<config hash>.jsonl`` and reuses them when run again with
    the same settings (an interrupted grid continues where it stopped).
    """
    import torch  # lazy: torch takes seconds to import; importing this module stays cheap

    cfg.validate()
    state = Path(state_dir)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    allowed = [b for b in cfg.budgets if b <= cfg.best_budget]
    journal = (state / f"rows-{_fingerprint(cfg)}.jsonl") if resume else None
    run = _GridRun(
        cfg=cfg,
        state=state,
        gate=EvaluationGate(min_gain=cfg.min_gain, max_clean_drop=cfg.max_clean_drop),
        say=progress or (lambda msg: None),
        labeler_factory=labeler_factory,
        journal=journal,
        finished=_read_journal(journal),
        keep_budget=max(allowed) if allowed else None,
    )
    for seed in cfg.seeds:
        seed_run = _set_up_seed(run, seed)
        _run_grid_of_seed(run, seed_run)
        _run_clean_stream(run, seed_run)
    return _results(run, register)


def _set_up_seed(run: _GridRun, seed: int) -> _SeedRun:
    """One seed's data, base model, detector and labeler; report how the base and detector fare."""
    started = time.perf_counter()
    data = make_seed_data(run.cfg, seed)
    base = base_model(run.cfg, data, run.cache_dir)
    detector = fit_detector(run.cfg, data, run.cache_dir)
    base_metrics = run.gate.evaluate(base, data.slices)
    summary = {
        "seed": seed,
        "base_metrics": {k: v for k, v in base_metrics.items() if k.endswith("_accuracy")},
        **_detector_flags(detector, data),
        "setup_seconds": round(time.perf_counter() - started, 1),
    }
    run.per_seed.append(summary)
    run.say(
        f"seed {seed}: base clean {base_metrics['clean_accuracy']:.4f}, drifted "
        f"{base_metrics['drifted_accuracy']:.4f}; detector flags "
        f"{summary['pool_flagged_share']:.1%} of the drifted pool, "
        f"{summary['clean_pool_flagged_share']:.1%} of a clean one"
    )
    labeler = run.labeler_factory(data, base) if run.labeler_factory else OracleLabeler(data.y_pool)
    run.seeds[seed] = _SeedRun(data, base, detector, base_metrics, labeler)
    return run.seeds[seed]


def _detector_flags(detector, data: SeedData) -> dict[str, Any]:
    """What the detector says of the drifted pool and of the same pool uncorrupted."""
    drift = detector.predict(data.X_pool)
    clean_check = detector.predict(data.X_pool_clean)
    return {
        "pool_flagged_share": float(np.mean(drift.is_outlier)),
        "pool_is_drift": bool(drift.is_drift),
        "clean_pool_flagged_share": float(np.mean(clean_check.is_outlier)),
        "clean_pool_is_drift": bool(clean_check.is_drift),
    }


def _run_grid_of_seed(run: _GridRun, seed_run: _SeedRun) -> None:
    """Every selection x budget x strategy cell of one seed."""
    for selection in run.cfg.selections:
        selector = _selector(run.cfg, selection)
        for budget in run.cfg.budgets:
            picked = _pick(seed_run, selection, selector, budget)
            made: dict[str, Any] = {}  # this pick's candidates by strategy
            for strategy in _ordered(run.cfg.strategies):
                _run_cell(run, seed_run, picked, strategy, made)


def _pick(seed_run: _SeedRun, selection: str, selector, budget: int) -> _Picked:
    """Let the selector choose ``budget`` samples of the pool; count their corruptions."""
    data = seed_run.data
    indices = selector.select(
        data.X_pool, budget, model=seed_run.base, detector=seed_run.detector, seed=data.seed
    )
    names, counts = np.unique(data.pool_corruption[indices], return_counts=True)
    counted = {str(n): int(c) for n, c in zip(names, counts, strict=True)}
    return _Picked(selection, selector, budget, indices, counted)


def _cell_label(seed: int, picked: _Picked, strategy: str) -> str:
    """The start of a grid cell's progress line."""
    return f"seed {seed} {picked.selection:>14s} x {strategy:<8s} {picked.budget:>4d} labels: "


def _run_cell(
    run: _GridRun, seed_run: _SeedRun, picked: _Picked, strategy: str, made: dict[str, Any]
) -> None:
    """One grid cell: improve with ``strategy`` on the picked samples, gate, record, report.

    A cell found in the journal is taken from there. ``made`` collects the pick's candidates
    (the combined strategy builds on the denoiser's).
    """
    seed, data = seed_run.seed, seed_run.data
    key = _row_key(seed, picked.selection, strategy, picked.budget)
    done = run.finished.get(key)
    if done is not None:
        run.rows.append(done)
        run.say(_cell_label(seed, picked, strategy) + "(resumed from rows.jsonl)")
        return
    res = _run_round(
        seed_run.base,
        seed_run.detector,
        data.X_pool,
        selector=picked.selector,
        labeler=seed_run.labeler,
        strategy=_cell_strategy(run, strategy, made),
        gate=run.gate,
        X_train=data.X_train,
        y_train=data.y_train,
        eval_slices=data.slices,
        budget=picked.budget,
        seed=seed,
        champion_metrics=seed_run.base_metrics,
        selected=picked.indices,
    )
    made[strategy] = res.candidate
    run.record(key, _row(seed, picked, strategy, res))
    if seed == run.cfg.seeds[0] and picked.budget == run.keep_budget:
        run.kept[(picked.selection, strategy)] = res
    metrics = res.candidate_metrics
    run.say(
        _cell_label(seed, picked, strategy)
        + f"drifted {metrics.get('drifted_accuracy', float('nan')):.4f} clean "
        f"{metrics.get('clean_accuracy', float('nan')):.4f} "
        f"({'promote' if res.decision.promote else 'keep'}, "
        f"{sum(res.timings.values()):.1f}s)"
    )


def _cell_strategy(run: _GridRun, strategy: str, made: dict[str, Any]):
    """The improvement strategy of a cell; combined reuses this pick's denoiser candidate."""
    from .strategies import RetrainStrategy  # lazy: strategies import torch

    strat = _strategy(run.cfg, strategy, run.cache_dir)
    if strategy == "combined" and "denoiser" in made:
        # CombinedStrategy = the denoiser strategy, then retrain behind it, with
        # the same seed: reuse the denoiser candidate of this very selection
        strat = _Behind(made["denoiser"], strat.retrain or RetrainStrategy())
    return strat


def _run_clean_stream(run: _GridRun, seed_run: _SeedRun) -> None:
    """The same round on the uncorrupted pool with the paper's selector: it must not promote."""
    cfg, data = run.cfg, seed_run.data
    res = _run_round(
        seed_run.base,
        seed_run.detector,
        data.X_pool_clean,
        selector=_selector(cfg, "reconstruction"),
        labeler=OracleLabeler(data.y_pool_clean),
        strategy=_strategy(cfg, cfg.strategies[0], run.cache_dir),
        gate=run.gate,
        X_train=data.X_train,
        y_train=data.y_train,
        eval_slices={"drifted": data.slices["clean"], "clean": data.slices["clean"]},
        # the clean stream has no drifted data: the gate compares on clean data twice
        budget=cfg.best_budget,
        seed=seed_run.seed,
    )
    run.clean_stream.append(
        {
            "seed": seed_run.seed,
            "labeler": "oracle",
            "labels_used": res.labels_used,
            "promote": res.decision.promote,
            "reason": res.decision.reason,
        }
    )
    run.say(
        f"seed {seed_run.seed} clean stream: {res.labels_used} labels, "
        f"{'PROMOTED' if res.decision.promote else 'no promotion'}"
    )


def _results(run: _GridRun, register: bool) -> dict[str, Any]:
    """The grid's summary; with ``register``, the best candidate goes through the registry."""
    cfg = run.cfg
    table = aggregate(run.rows)
    best = _best(table, cfg)
    summary = _summary(cfg, run.per_seed, table, best)
    registry = _register_best(run, best) if register and best is not None else None
    return {
        "experiment": "mnist-c",
        "labeler": cfg.labeler,
        "config": asdict(cfg),
        **summary,
        "per_seed": run.per_seed,
        "clean_stream": run.clean_stream,
        "clean_stream_promoted": any(c["promote"] for c in run.clean_stream),
        "grid": table,
        "rows": run.rows,
        "registry": registry,
        "seconds": round(time.perf_counter() - run.started, 1),
    }


# ----------------------------------------------------------------------------------- results
def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of every metric, per (selection, strategy, budget)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["selection"], r["strategy"], r["budget"]), []).append(r)
    out = []
    for (sel, strat, budget), rs in groups.items():
        keys = sorted({k for r in rs for k in r["metrics"]})
        entry: dict[str, Any] = {
            "selection": sel,
            "strategy": strat,
            "budget": budget,
            "n_seeds": len(rs),
            "labels_used": float(np.mean([r["labels_used"] for r in rs])),
            "promoted": sum(bool(r["promote"]) for r in rs),
            "distinct_corruptions": float(np.mean([len(r["selected_corruptions"]) for r in rs])),
        }
        for k in keys:
            vals = np.array([r["metrics"][k] for r in rs if k in r["metrics"]], dtype=float)
            entry[k] = float(vals.mean())
            entry[k + "_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        out.append(entry)
    return out


def _best(table: list[dict[str, Any]], cfg: ExperimentConfig) -> dict[str, Any] | None:
    """Highest mean drifted accuracy among combinations with at most ``best_budget`` labels."""
    ok = [e for e in table if e["budget"] <= cfg.best_budget and "drifted_accuracy" in e]
    if not ok:
        return None
    top = max(e["budget"] for e in ok)  # compare at the largest budget allowed
    ok = [e for e in ok if e["budget"] == top]
    return max(ok, key=lambda e: (e["drifted_accuracy"], e.get("clean_accuracy", 0.0)))


def _summary(cfg, per_seed, table, best) -> dict[str, Any]:
    base_clean = float(np.mean([p["base_metrics"]["clean_accuracy"] for p in per_seed]))
    base_drift = float(np.mean([p["base_metrics"]["drifted_accuracy"] for p in per_seed]))
    out: dict[str, Any] = {
        "base_clean_accuracy": base_clean,
        "base_corrupted_accuracy": base_drift,
        "base_per_corruption": _mean_per_corruption([p["base_metrics"] for p in per_seed]),
    }
    if best is None:
        return out
    lost = base_clean - base_drift
    gained = best["drifted_accuracy"] - base_drift
    at_best = [e for e in table if e["budget"] == best["budget"] and e["strategy"] == best["strategy"]]
    ref = {e["selection"]: e["drifted_accuracy"] for e in at_best}
    out.update(
        {
            "improved_clean_accuracy": best["clean_accuracy"],
            "improved_corrupted_accuracy": best["drifted_accuracy"],
            "improved_clean_accuracy_std": best.get("clean_accuracy_std", 0.0),
            "improved_corrupted_accuracy_std": best.get("drifted_accuracy_std", 0.0),
            "labels_used": best["labels_used"],
            "budget": best["budget"],
            "selection": best["selection"],
            "strategy": best["strategy"],
            "recovered_fraction": gained / lost if lost > 0 else None,
            "target_half_recovered": bool(lost > 0 and gained >= lost / 2),
            "same_strategy_random_accuracy": ref.get("random"),
            "same_strategy_reconstruction_accuracy": ref.get("reconstruction"),
            "beats_random": None
            if "random" not in ref
            else best["drifted_accuracy"] > ref["random"],
            "beats_reconstruction": None
            if "reconstruction" not in ref
            else best["drifted_accuracy"] > ref["reconstruction"],
            "improved_per_corruption": {
                k[8:-9]: best[k]
                for k in best
                if k.startswith("drifted:") and not k.endswith("_std")
            },
        }
    )
    return out


def _mean_per_corruption(metrics_list) -> dict[str, float]:
    keys = [k for k in metrics_list[0] if k.startswith("drifted:") and k.endswith("_accuracy")]
    return {k[8:-9]: float(np.mean([m[k] for m in metrics_list])) for k in keys}


def _best_round(run: _GridRun, seed_run: _SeedRun, best: dict[str, Any]):
    """The first seed's round that made the best candidate; one resumed from the journal is
    run again (deterministic)."""
    res = run.kept.get((best["selection"], best["strategy"]))
    if res is not None:
        return res
    data = seed_run.data
    return _run_round(
        seed_run.base,
        seed_run.detector,
        data.X_pool,
        selector=_selector(run.cfg, best["selection"]),
        labeler=OracleLabeler(data.y_pool),
        strategy=_strategy(run.cfg, best["strategy"], run.cache_dir),
        gate=run.gate,
        X_train=data.X_train,
        y_train=data.y_train,
        eval_slices=data.slices,
        budget=int(best["budget"]),
        seed=data.seed,
        require_drift=False,
    )


def _register_best(run: _GridRun, best: dict[str, Any]) -> dict[str, Any]:
    """Register the base model as champion and the best candidate (first seed) as a new
    version; the gate's decision moves the ``champion`` alias or not."""
    cfg = run.cfg
    seed_run = run.seeds[cfg.seeds[0]]
    res = _best_round(run, seed_run, best)
    app = Application(name="mnist-c-experiment", state_dir=str(run.state.resolve()))
    uri = tracking_uri(app)
    client = get_client(uri)
    exp_id = ensure_experiment(app, client)
    with _tracking_uri_env(uri):  # track's helpers read the URI from the environment
        run_id = client.create_run(
            exp_id,
            run_name=f"improve-{best['selection']}-{best['strategy']}",
            tags={"scanflow.labeler": cfg.labeler},
        ).info.run_id
        champion_before = _champion_or_base(client, exp_id, seed_run.base)
        _log_best_round(client, run_id, cfg, best, res.decision)
        version = register_candidate(
            res.candidate,
            MODEL_NAME,
            run_id=run_id,
            tags={"scanflow.role": "candidate", "scanflow.labeler": cfg.labeler},
        )
        previous = run.gate.promote(res.decision, MODEL_NAME, version, client=client)
        client.set_terminated(run_id)
        champion_after = get_alias_version(MODEL_NAME, "champion", client=client)
        run.say(
            f"registry: candidate v{version} {'promoted' if res.decision.promote else 'kept out'}"
            f" (champion v{champion_after}; rollback target v{previous})"
        )
    return {
        "tracking_uri": uri,
        "model": MODEL_NAME,
        "champion_before": champion_before,
        "candidate_version": version,
        "promoted": res.decision.promote,
        "champion_after": champion_after,
        "reason": res.decision.reason,
        "rollback_command": f"scanflow models rollback {MODEL_NAME} --tracking-uri '{uri}'",
    }


@contextmanager
def _tracking_uri_env(uri: str) -> Iterator[None]:
    """Set ``MLFLOW_TRACKING_URI`` to ``uri`` for the block, then restore it."""
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def _champion_or_base(client, exp_id: str, base) -> int | None:
    """The champion's version; with none yet, ``base`` is registered and made champion first."""
    if get_alias_version(MODEL_NAME, "champion", client=client) is None:
        base_run = client.create_run(exp_id, run_name="base-cnn")
        v1 = register_candidate(
            base, MODEL_NAME, run_id=base_run.info.run_id, tags={"scanflow.role": "base"}
        )
        client.set_terminated(base_run.info.run_id)
        promote(MODEL_NAME, v1, client=client)
    return get_alias_version(MODEL_NAME, "champion", client=client)


def _log_best_round(client, run_id: str, cfg: ExperimentConfig, best, decision) -> None:
    """Log the gate's metrics and the best combination's settings to the improvement run."""
    from mlflow.entities import Metric, Param  # lazy: mlflow takes seconds to import

    flat = {k.replace(":", "_"): float(v) for k, v in decision.metrics.items()}
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in flat.items()],
        params=[
            Param("selection", best["selection"]),
            Param("strategy", best["strategy"]),
            Param("budget", str(best["budget"])),
            Param("labeler", cfg.labeler),
            Param("seed", str(cfg.seeds[0])),
        ],
    )
