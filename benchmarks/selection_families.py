"""Which samples to label: the improver's default selector against the others, on three families of shifts.

(a) **Labels needed to recover half of the accuracy lost on a mixed MNIST-C stream.** The
    episode selector the improver uses by default (``auto``: k-center over the detector's latent
    features, weighted by the champion's uncertainty, over the whole pool) against random
    selection, at the same budgets, with the ``retrain`` strategy (and ``combined``): accuracy
    vs labels, and the labels at which the mean curve crosses half recovery (interpolated).
(b) **Does the ranking of selectors generalise across families of shifts?** random, entropy,
    margin, kcenter (auto), reconstruction and hybrid, with ``retrain``, on
    * ``mnist-c`` — a pool where each digit has one of the 15 MNIST-C corruptions;
    * ``novel``   — a pool where each digit has one of six shifts that are not MNIST-C
      (benchmarks/novel_shifts.py: inversion, JPEG-like blocks, grey occluders, elastic warps,
      salt-only noise, pixelation);
    * ``table``   — UCI image segments seen by cameras with three different white balances
      (``recalibrate_camera``), a scikit-learn pipeline refit on the labels.
    Reported: the whole table, each selector's rank per family (by mean accuracy over the
    budgets) and a recommendation for the improver's default.

Detectors: ``AutoencoderDetector`` (images) / ``default_detector`` (table), fitted on the clean
training data. Labels come from the oracle (ground truth). The pool the selectors pick from,
the drifted evaluation slice and the clean slice are disjoint; the clean slice is never trained
on. Recovered share = (candidate − champion) / (champion clean − champion drifted), on the
evaluation slices. Finished cells are journaled under ``<cache>/selection-families`` so an
interrupted run resumes.

    .venv/bin/python benchmarks/selection_families.py            # 3 seeds, budgets 10..100 (+200 in (a))
    .venv/bin/python benchmarks/selection_families.py --quick    # 1 seed, budgets 10, 40, 100 (+200)
    .venv/bin/python benchmarks/selection_families.py --part a --strategies retrain,combined
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _bench import (  # noqa: E402
    Report,
    champion_cnn,
    fitted_detector,
    md_table,
    num_ms,
    parser,
    pct,
    pct_ms,
    say,
    segment_pipeline,
    setup_torch,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

SELECTORS = ("random", "entropy", "margin", "kcenter (auto)", "reconstruction", "hybrid")
FAMILIES = ("mnist-c", "novel", "table")
CAMERAS = ((1.25, 1.0, 0.8), (0.8, 1.1, 1.3), (1.5, 1.0, 0.6))


@dataclass
class Settings:
    seeds: list[int]
    budgets: list[int] = field(default_factory=lambda: [10, 20, 40, 60, 100])
    budgets_a: list[int] = field(default_factory=lambda: [10, 20, 40, 60, 100, 200])
    strategies_a: list[str] = field(default_factory=lambda: ["retrain", "combined"])
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    selectors: list[str] = field(default_factory=lambda: list(SELECTORS))
    pool: int = 2000
    eval: int = 2000
    clean: int = 1000
    table_pool: int = 500
    champion_epochs: int = 5
    detector_epochs: int = 12
    table_detector_epochs: int = 20
    pretrain_steps: int = 600

    @classmethod
    def make(cls, quick: bool, seeds: int | None) -> Settings:
        n = seeds or (1 if quick else 3)
        if quick:
            return cls(list(range(n)), budgets=[10, 40, 100], budgets_a=[10, 40, 100, 200],
                       strategies_a=["retrain"], pool=1000,
                       eval=1000, clean=500, champion_epochs=3, detector_epochs=5, pretrain_steps=300)
        return cls(list(range(n)))

    def fingerprint(self) -> str:
        """What changes a cell's result (not the grid's extent)."""
        from scanflow.improve.cache import cache_key

        keep = {k: v for k, v in asdict(self).items()
                if k not in ("seeds", "budgets", "budgets_a", "strategies_a", "families", "selectors")}
        return cache_key("cells", keep)


# ----------------------------------------------------------------------------- families
@dataclass
class Family:
    """One family of shifts for one seed: champion, detector, pool and evaluation slices."""

    name: str
    seed: int
    X_train: Any
    y_train: np.ndarray
    champion: Any
    detector: Any
    X_pool: Any
    y_pool: np.ndarray
    groups_pool: np.ndarray
    slices: dict[str, tuple]
    base: dict[str, float] = field(default_factory=dict)


def _mnist_c_mix(X, y, seed):
    from scanflow.datasets import CORRUPTIONS, make_stream

    batches = make_stream(X, y, batch_size=100, n_clean=0, n_drift=-(-len(X) // 100),
                          corruption=list(CORRUPTIONS), seed=seed)
    cat = lambda key: np.concatenate([getattr(b, key) for b in batches])[: len(X)]  # noqa: E731
    return cat("X"), cat("y"), cat("corruption")


def image_family(name: str, seed: int, st: Settings, cache: Path) -> Family:
    """``mnist-c`` or ``novel``: disjoint pool / drifted evaluation / clean digits of the test split."""
    from novel_shifts import novel_mixture

    from scanflow.datasets import load_mnist

    X_train, y_train = load_mnist("train")
    X_test, y_test = load_mnist("test")
    perm = np.random.default_rng(30_000 + seed).permutation(len(X_test))
    pool, evl = perm[: st.pool], perm[st.pool: st.pool + st.eval]
    clean = perm[st.pool + st.eval: st.pool + st.eval + st.clean]
    if name == "mnist-c":
        Xp, yp, gp = _mnist_c_mix(X_test[pool], y_test[pool], 1000 * seed + 1)
        Xe, ye, ge = _mnist_c_mix(X_test[evl], y_test[evl], 1000 * seed + 2)
    else:
        (Xp, gp), yp = novel_mixture(X_test[pool], 1000 * seed + 1), y_test[pool]
        (Xe, ge), ye = novel_mixture(X_test[evl], 1000 * seed + 2), y_test[evl]
    champion = champion_cnn(X_train, y_train, epochs=st.champion_epochs, seed=seed, cache=cache)
    detector = fitted_detector("ae", X_train, seed=seed, epochs=st.detector_epochs, cache=cache)
    slices = {"drifted": (Xe, ye, ge), "clean": (X_test[clean], y_test[clean])}
    return Family(name, seed, X_train, y_train, champion, detector, Xp, yp, gp, slices)


def camera_mix(X, seed: int):
    """Each row seen by one of the three cameras of ``CAMERAS``: ``(rows, camera names)``."""
    import pandas as pd

    from scanflow.datasets import recalibrate_camera

    which = np.random.default_rng(seed).integers(len(CAMERAS), size=len(X))
    parts = [recalibrate_camera(X.iloc[np.flatnonzero(which == k)], gains=g) for k, g in enumerate(CAMERAS)]
    out = pd.concat(parts).loc[X.index]  # back in the original row order
    names = np.asarray([f"camera {CAMERAS[k]}" for k in which], dtype=object)
    return out.reset_index(drop=True), names


def table_family(seed: int, st: Settings, cache: Path) -> Family:
    """``table``: 1,000 training rows, a recalibrated pool and evaluation part, clean hold-out rows."""
    from scanflow.datasets import split_segment

    X_train, y_train, X_hold, y_hold, X_stream, y_stream = split_segment(seed=seed)
    n = st.table_pool
    Xp, gp = camera_mix(X_stream.iloc[:n].reset_index(drop=True), 1000 * seed + 1)
    Xe, ge = camera_mix(X_stream.iloc[n:].reset_index(drop=True), 1000 * seed + 2)
    champion = segment_pipeline(X_train, y_train, seed)
    detector = fitted_detector("default", X_train, seed=seed, epochs=st.table_detector_epochs, cache=cache)
    slices = {"drifted": (Xe, y_stream[n:], ge), "clean": (X_hold, y_hold)}
    return Family("table", seed, X_train, y_train, champion, detector, Xp, y_stream[:n], gp, slices)


def load_family(name: str, seed: int, st: Settings, cache: Path) -> Family:
    from scanflow.improve.gate import EvaluationGate

    fam = table_family(seed, st, cache) if name == "table" else image_family(name, seed, st, cache)
    fam.base = EvaluationGate().evaluate(fam.champion, fam.slices)
    flagged = float(np.mean(fam.detector.predict(fam.X_pool).is_outlier))
    say(f"{name} seed {seed}: champion clean {pct(fam.base['clean_accuracy'])} %, drifted "
        f"{pct(fam.base['drifted_accuracy'])} %; detector flags {flagged:.0%} of the pool")
    fam.base["pool_flagged"] = flagged
    return fam


# ----------------------------------------------------------------------------- cells
def make_selector(name: str):
    from scanflow.improve.selection import get_selector

    if name == "kcenter (auto)":  # what the improver's `selector: auto` builds for a model with probabilities
        return get_selector("kcenter", only_flagged=False, uncertainty_power=1.0)
    return get_selector(name)


def make_strategy(name: str, st: Settings, cache: Path):
    from scanflow.improve.strategies import CombinedStrategy, DenoiserStrategy, get_strategy

    if name == "combined":
        return CombinedStrategy(denoiser=DenoiserStrategy(pretrain_steps=st.pretrain_steps,
                                                          cache_dir=str(cache)))
    return get_strategy(name, cache_dir=str(cache))


def run_cell(fam: Family, selector: str, strategy: str, budget: int, st: Settings, cache: Path):
    """One round: select ``budget`` pool samples, oracle labels, improve, evaluate."""
    from scanflow.improve.gate import EvaluationGate
    from scanflow.improve.labelers import OracleLabeler
    from scanflow.improve.loop import run_round

    t0 = time.perf_counter()
    res = run_round(fam.champion, fam.detector, fam.X_pool, selector=make_selector(selector),
                    labeler=OracleLabeler(fam.y_pool), strategy=make_strategy(strategy, st, cache),
                    gate=EvaluationGate(), X_train=fam.X_train, y_train=fam.y_train,
                    eval_slices=fam.slices, budget=budget, seed=fam.seed,
                    champion_metrics=fam.base, require_drift=False)
    chosen = res.selected
    m = res.candidate_metrics or {}
    return {"family": fam.name, "seed": fam.seed, "selector": selector, "strategy": strategy,
            "budget": budget, "labels_used": res.labels_used,
            "groups_covered": len(set(fam.groups_pool[chosen])),
            "groups": len(set(fam.groups_pool)),
            "drifted": m.get("drifted_accuracy", fam.base["drifted_accuracy"]),
            "clean": m.get("clean_accuracy", fam.base["clean_accuracy"]),
            "base_drifted": fam.base["drifted_accuracy"], "base_clean": fam.base["clean_accuracy"],
            "promote": res.decision.promote,
            "seconds": round(time.perf_counter() - t0, 1),
            "select_seconds": round(res.timings.get("select", 0.0), 2)}


class Journal:
    """Finished cells on disk (JSON lines), so a long run resumes and (a) and (b) share cells."""

    def __init__(self, cache: Path, st: Settings):
        self.path = Path(cache) / "selection-families" / f"{st.fingerprint()}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, dict[str, Any]] = {}
        self.added = 0
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption
                self.rows[self.key(row)] = row

    @staticmethod
    def key(row: dict[str, Any]) -> str:
        return f"{row['family']}/{row['seed']}/{row['selector']}/{row['strategy']}/{row['budget']}"

    def get(self, family, seed, selector, strategy, budget) -> dict[str, Any] | None:
        return self.rows.get(f"{family}/{seed}/{selector}/{strategy}/{budget}")

    def add(self, row: dict[str, Any]) -> None:
        self.rows[self.key(row)] = row
        self.added += 1
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")


def run_grid(jobs: list[tuple[str, str, str, int]], st: Settings, cache: Path, journal: Journal) -> list[dict]:
    """Every (family, selector, strategy, budget) × seed cell, from the journal when finished."""
    rows = []
    for seed in st.seeds:
        for family in dict.fromkeys(j[0] for j in jobs):
            todo = [(sel, strat, b) for f, sel, strat, b in jobs if f == family]
            missing = [t for t in todo if journal.get(family, seed, *t) is None]
            fam = load_family(family, seed, st, cache) if missing else None
            for sel, strat, budget in todo:
                row = journal.get(family, seed, sel, strat, budget)
                if row is None:
                    row = run_cell(fam, sel, strat, budget, st, cache)
                    journal.add(row)
                    say(f"{family} seed {seed} {sel:>15s} × {strat:<8s} {budget:>3d} labels: drifted "
                        f"{pct(row['base_drifted'])} → {pct(row['drifted'])} %, clean "
                        f"{pct(row['clean'])} % ({row['seconds']:.0f} s)")
                rows.append(row)
    return rows


# ----------------------------------------------------------------------------- analysis
def _cells(rows, **match) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def recovery(row: dict[str, Any]) -> float | None:
    loss = row["base_clean"] - row["base_drifted"]
    return None if loss <= 0 else (row["drifted"] - row["base_drifted"]) / loss


def labels_to_half(points: list[tuple[int, float | None]]) -> float | None:
    """First budget where the recovery curve (starting at 0 labels, 0 recovered) reaches 0.5,
    by linear interpolation; None when it never does."""
    prev_b, prev_r = 0, 0.0
    for b, r in sorted(points):
        if r is None:
            continue
        if r >= 0.5:
            return prev_b + (b - prev_b) * (0.5 - prev_r) / (r - prev_r) if r > prev_r else float(b)
        prev_b, prev_r = b, r
    return None


def half_text(value: float | None, budgets: list[int]) -> str:
    return f"> {max(budgets)}" if value is None else f"{value:.0f}"


def curve(rows, budgets, seed=None) -> list[tuple[int, float | None]]:
    """(budget, recovery) of the given cells, averaged over seeds unless ``seed`` is given."""
    out = []
    for b in budgets:
        rs = [recovery(r) for r in rows if r["budget"] == b and (seed is None or r["seed"] == seed)]
        rs = [v for v in rs if v is not None]
        out.append((b, float(np.mean(rs)) if rs else None))
    return out


def part_a_tables(rows, st: Settings) -> tuple[list[str], dict[str, Any]]:
    out, combos, results = [], [], {}
    for strat in st.strategies_a:
        for sel in ("kcenter (auto)", "random"):
            if _cells(rows, strategy=strat, selector=sel):
                combos.append((sel, strat))
    body = []
    for b in st.budgets_a:
        line = [b]
        for sel, strat in combos:
            cs = _cells(rows, selector=sel, strategy=strat, budget=b)
            line.append(f"{pct_ms(r['drifted'] for r in cs)} ({pct_ms((recovery(r) for r in cs), 0)})")
        body.append(line)
    base = _cells(rows, budget=st.budgets_a[0])
    body.insert(0, ["0 (champion)"] + [f"{pct_ms(r['base_drifted'] for r in base if r['selector'] == s and r['strategy'] == t)} (0)"
                                       for s, t in combos])
    out.append(md_table(["labels"] + [f"{s} × {t}" for s, t in combos], body,
                        "(a) Mixed MNIST-C stream: drifted accuracy % (recovered % of the loss), "
                        f"mean ± std over {len(st.seeds)} seed(s)"))
    half_rows = []
    for sel, strat in combos:
        cs = _cells(rows, selector=sel, strategy=strat)
        mean_half = labels_to_half(curve(cs, st.budgets_a))
        per_seed = [labels_to_half(curve(cs, st.budgets_a, s)) for s in st.seeds]
        results[f"{sel} × {strat}"] = {"labels_to_half": mean_half, "per_seed": per_seed,
                                       "curve": curve(cs, st.budgets_a)}
        half_rows.append([sel, strat, half_text(mean_half, st.budgets_a),
                          ", ".join(half_text(v, st.budgets_a) for v in per_seed),
                          pct_ms(r["clean"] for r in cs if r["budget"] == max(st.budgets_a)),
                          num_ms(r["groups_covered"] for r in cs if r["budget"] == max(st.budgets_a))])
    out.append(md_table(["selector", "strategy", "labels to half recovery (mean curve)", "per seed",
                         f"clean % at {max(st.budgets_a)} labels",
                         f"corruptions covered at {max(st.budgets_a)} labels (of 15)"], half_rows,
                        "(a) Labels needed to recover half of the lost accuracy (interpolated)"))
    return out, results


def _score(rows, family, sel) -> float | None:
    """Mean drifted accuracy over budgets and seeds (the area under the accuracy-vs-labels curve)."""
    cs = _cells(rows, family=family, selector=sel, strategy="retrain")
    return float(np.mean([r["drifted"] for r in cs])) if cs else None


def family_table(rows, family: str, st: Settings) -> str:
    body = []
    for sel in st.selectors:
        cs = _cells(rows, family=family, selector=sel, strategy="retrain")
        if not cs:
            continue
        top = [r for r in cs if r["budget"] == max(st.budgets)]
        body.append([sel] + [pct_ms(r["drifted"] for r in cs if r["budget"] == b) for b in st.budgets]
                    + [pct(_score(rows, family, sel)), pct_ms(r["clean"] for r in top),
                       num_ms(r["labels_used"] for r in top),
                       f"{num_ms(r['groups_covered'] for r in top)}/{top[0]['groups']}"])
    base = _cells(rows, family=family)
    head = (f"(b) {family}: drifted accuracy % after retraining (champion: drifted "
            f"{pct_ms(r['base_drifted'] for r in base if r['budget'] == st.budgets[0] and r['selector'] == 'random')}, "
            f"clean {pct_ms(r['base_clean'] for r in base if r['budget'] == st.budgets[0] and r['selector'] == 'random')}), "
            f"mean ± std over {len(st.seeds)} seed(s)")
    m = max(st.budgets)
    return md_table(["selector"] + [f"{b} labels" for b in st.budgets]
                    + ["mean over budgets", f"clean % at {m}", f"labels used at {m}", f"shifts covered at {m}"],
                    body, head)


def ranks(rows, st: Settings) -> dict[str, dict[str, int]]:
    """Rank of each selector per family (1 = highest mean accuracy over budgets and seeds)."""
    out: dict[str, dict[str, int]] = {}
    for family in st.families:
        scores = {s: _score(rows, family, s) for s in st.selectors}
        scores = {s: v for s, v in scores.items() if v is not None}
        for k, s in enumerate(sorted(scores, key=lambda s: -scores[s])):
            out.setdefault(s, {})[family] = k + 1
    return out


def rank_table(rows, st: Settings) -> tuple[str, dict[str, Any]]:
    """Ranks, gain over random and *regret* (points below the family's best selector) per family."""
    rk = ranks(rows, st)
    fams = [f for f in st.families if any(f in v for v in rk.values())]
    best = {f: max(_score(rows, f, s) for s in rk if f in rk[s]) for f in fams}
    summary = {}
    for sel in rk:
        gaps = {f: _score(rows, f, sel) - _score(rows, f, "random") for f in fams}
        regret = {f: best[f] - _score(rows, f, sel) for f in fams}
        summary[sel] = {"ranks": rk[sel], "mean_rank": float(np.mean(list(rk[sel].values()))),
                        "gain_over_random": gaps, "regret": regret,
                        "mean_regret": float(np.mean(list(regret.values()))),
                        "worst_regret": float(max(regret.values()))}
    body = [[sel] + [f"{rk[sel][f]} ({100 * v['gain_over_random'][f]:+.1f})" for f in fams]
            + [f"{v['mean_rank']:.2f}", f"{100 * v['mean_regret']:.1f}", f"{100 * v['worst_regret']:.1f}"]
            for sel, v in sorted(summary.items(), key=lambda kv: kv[1]["mean_regret"])]
    return md_table(["selector"] + [f"{f}: rank (pts vs random)" for f in fams]
                    + ["mean rank", "mean regret (pts)", "worst regret (pts)"], body,
                    "(b) Rank of each selector per family (by mean drifted accuracy over the "
                    "budgets; in brackets its gain over random in points); regret = points below "
                    "the family's best selector"), summary


def winners_table(rows, st: Settings) -> str:
    body = []
    for family in st.families:
        line = [family]
        for b in st.budgets:
            acc = {s: np.mean([r["drifted"] for r in _cells(rows, family=family, selector=s,
                                                             strategy="retrain", budget=b)] or [np.nan])
                   for s in st.selectors}
            acc = {s: v for s, v in acc.items() if not np.isnan(v)}
            if not acc:
                line.append("—")
                continue
            best = max(acc, key=acc.get)
            line.append(f"{best} ({pct(acc[best])}; auto {pct(acc.get('kcenter (auto)'))}, "
                        f"random {pct(acc.get('random'))})")
        body.append(line)
    return md_table(["family"] + [f"{b} labels" for b in st.budgets], body,
                    "(b) Best selector per family and budget (accuracy %; the default and random beside it)")


def recommendation(summary: dict[str, Any]) -> str:
    """The selector with the least mean regret across families (ties: least worst regret)."""
    if not summary:
        return "no part (b) results"
    best = min(summary, key=lambda s: (round(summary[s]["mean_regret"], 4), summary[s]["worst_regret"]))
    b = summary[best]
    lines = [f"Least regret across the families: {best} (mean {100 * b['mean_regret']:.1f} pts, worst "
             f"{100 * b['worst_regret']:.1f} pts below the best selector of a family; ranks {b['ranks']})."]
    auto = summary.get("kcenter (auto)")
    if auto is not None and best != "kcenter (auto)":
        lines.append(f"The improver's default kcenter (auto): mean regret {100 * auto['mean_regret']:.1f} "
                     f"pts, worst {100 * auto['worst_regret']:.1f} pts (ranks {auto['ranks']}): "
                     f"recommend '{best}' as the default.")
    elif auto is not None:
        lines.append("The improver's default (kcenter, auto) has the least regret: keep it.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def jobs_of(part: str, st: Settings) -> list[tuple[str, str, str, int]]:
    """(family, selector, strategy, budget) cells to run, part (a) first."""
    jobs = []
    if part in ("a", "all"):
        jobs += [("mnist-c", s, t, b) for t in st.strategies_a for s in ("kcenter (auto)", "random")
                 for b in st.budgets_a]
    if part in ("b", "all"):
        jobs += [(f, s, "retrain", b) for f in st.families for s in st.selectors for b in st.budgets]
    return list(dict.fromkeys(jobs))


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--part", choices=["a", "b", "all"], default="all")
    ap.add_argument("--budgets", default=None, help="comma-separated label budgets")
    ap.add_argument("--strategies", default=None, help="part (a) strategies, e.g. retrain,combined")
    ap.add_argument("--families", default=None, help=f"part (b) families (of {', '.join(FAMILIES)})")
    args = ap.parse_args(argv)
    setup_torch(args.threads)
    # the table's refits run the example's MLP for 600 iterations, which may not converge
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    st = Settings.make(args.quick, args.seeds)
    if args.budgets:
        st.budgets = st.budgets_a = [int(b) for b in args.budgets.split(",")]
    if args.strategies:
        st.strategies_a = args.strategies.split(",")
    if args.families:
        st.families = args.families.split(",")
    t0 = time.perf_counter()
    journal = Journal(args.cache, st)
    rows = run_grid(jobs_of(args.part, st), st, args.cache, journal)
    report = Report("Selection: the default selector vs the others, across families of shifts")
    report.add(f"seeds {st.seeds}, budgets {st.budgets}, oracle labels; images: pool {st.pool}, "
               f"drifted evaluation {st.eval}, clean {st.clean} (disjoint digits of the test split), "
               f"champion CNN {st.champion_epochs} epochs on 6,000 clean digits, autoencoder detector "
               f"{st.detector_epochs} epochs; table: pool {st.table_pool} rows, evaluation ~{1010 - st.table_pool} "
               f"rows, clean 300 hold-out rows, StandardScaler + MLP(64), default detector")
    results: dict[str, Any] = {"settings": asdict(st), "cells": rows}
    if args.part in ("a", "all"):
        rows_a = [r for r in _cells(rows, family="mnist-c") if r["budget"] in st.budgets_a]
        tables, results["part_a"] = part_a_tables(rows_a, st)
        for t in tables:
            report.add(t)
    if args.part in ("b", "all"):
        rows_b = [r for r in rows if r["budget"] in st.budgets and r["strategy"] == "retrain"]
        for family in st.families:
            report.add(family_table(rows_b, family, st))
        text, results["part_b"] = rank_table(rows_b, st)
        report.add(text)
        report.add(winners_table(rows_b, st))
        caveat = ("" if len(st.seeds) >= 3 else f"\n(indicative only: {len(st.seeds)} seed(s) and a "
                  "smaller pool; base the default on the full run, 3 seeds)")
        report.add(recommendation(results["part_b"]) + caveat)
    cell_s = [r["seconds"] for r in rows]
    report.add(f"total {time.perf_counter() - t0:.0f} s; {len(rows)} cells ({journal.added} computed now, "
               f"the rest from the journal {journal.path}), {np.mean(cell_s):.1f} s per cell when computed")
    report.write(args.output, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
