"""Zero-label adaptation alone: how much of a shift's accuracy loss each label-free candidate recovers.

Images (MNIST, each of the 15 MNIST-C corruptions): the champion CNN trained on clean digits
(``scanflow.improve.classifier.train_classifier``, cached), its accuracy on clean and on
corrupted held-out digits, and the accuracy of each zero-label candidate of
``scanflow.improve.zero_label``:

* ``denoise`` — the champion behind a denoiser pretrained without labels on generic corruptions
  of the clean training digits (it never looks at the drifted samples: one candidate per seed);
* ``entropy`` — information maximisation on a few hundred *unlabeled* corrupted digits (with a
  replay of the training data), one candidate per corruption.

Table (UCI image segments, a scikit-learn pipeline StandardScaler + MLP(64)): ``align`` (moment
matching of the moved columns) on camera recalibrations (``recalibrate_camera``) and, as a
control it should not touch, a change of class mix (``change_population``).

Recovered share = (zero-label − corrupted) / (clean − corrupted): 1 = all the loss recovered,
0 = none, < 0 = worse than the champion. Clean accuracy of a candidate = what it costs on clean
data (the champion's clean accuracy is the reference). The adaptation samples (unlabeled) and
the evaluation samples are disjoint; the clean evaluation digits are never trained on.

    .venv/bin/python benchmarks/zero_label.py            # 3 seeds, 500 adaptation + 2000 eval digits
    .venv/bin/python benchmarks/zero_label.py --quick    # 1 seed, 300 + 600 digits, shorter pretraining
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _bench import (  # noqa: E402
    Report,
    champion_cnn,
    md_table,
    mean_std,
    parser,
    pct,
    pct_ms,
    say,
    segment_pipeline,
    setup_torch,
)

MIN_LOSS = 0.02  # below a 2-point loss the recovered share is noise: shown, not averaged


@dataclass
class Settings:
    seeds: list[int]
    n_adapt: int = 500
    n_eval: int = 2000
    champion_epochs: int = 5
    pretrain_steps: int = 600  # the improver's default for `denoise`
    table_adapt: int = 300

    @classmethod
    def make(cls, quick: bool, seeds: int | None) -> Settings:
        n = seeds or (1 if quick else 3)
        if quick:
            return cls(list(range(n)), n_adapt=300, n_eval=600, champion_epochs=3, pretrain_steps=300)
        return cls(list(range(n)))


def recovered(zero: float, corrupted: float, clean: float) -> float | None:
    loss = clean - corrupted
    return None if loss <= 0 else (zero - corrupted) / loss


def _acc(model, X, y) -> float:
    return float(np.mean(np.asarray(model.predict(X)) == np.asarray(y)))


# ----------------------------------------------------------------------------- images
def image_split(seed: int, st: Settings):
    """Training digits, and disjoint adaptation / evaluation positions in the test split."""
    from scanflow.datasets import load_mnist

    X_train, y_train = load_mnist("train")
    X_test, y_test = load_mnist("test")
    perm = np.random.default_rng(20_000 + seed).permutation(len(X_test))
    adapt, evl = perm[: st.n_adapt], perm[st.n_adapt: st.n_adapt + st.n_eval]
    return X_train, y_train, X_test, y_test, adapt, evl


def image_seed(seed: int, st: Settings, cache: Path) -> list[dict[str, Any]]:
    """One row per corruption: clean / corrupted / denoise / entropy accuracies (one seed)."""
    from scanflow.datasets import CORRUPTIONS, corrupt
    from scanflow.improve.zero_label import get_zero_label

    X_train, y_train, X_test, y_test, adapt, evl = image_split(seed, st)
    champion = champion_cnn(X_train, y_train, epochs=st.champion_epochs, seed=seed, cache=cache)
    X_clean, y_eval = X_test[evl], y_test[evl]
    clean = _acc(champion, X_clean, y_eval)
    t0 = time.perf_counter()
    denoised = get_zero_label("denoise", pretrain_steps=st.pretrain_steps, cache_dir=str(cache)).adapt(
        champion, X_test[adapt], X_train, y_train, seed=seed)
    denoise_seconds = time.perf_counter() - t0
    denoise_clean = _acc(denoised, X_clean, y_eval)
    entropy = get_zero_label("entropy")
    rows = []
    for k, name in enumerate(CORRUPTIONS):
        X_adapt = corrupt(X_test[adapt], name, seed=1000 * seed + 1)   # unlabeled
        X_bad = corrupt(X_clean, name, seed=1000 * seed + 2)
        t1 = time.perf_counter()
        ent = entropy.adapt(champion, X_adapt, X_train, y_train, seed=seed)
        rows.append({"seed": seed, "corruption": name, "clean": clean,
                     "corrupted": _acc(champion, X_bad, y_eval),
                     "denoise": _acc(denoised, X_bad, y_eval), "denoise_clean": denoise_clean,
                     "entropy": _acc(ent, X_bad, y_eval), "entropy_clean": _acc(ent, X_clean, y_eval),
                     "entropy_seconds": round(time.perf_counter() - t1, 1),
                     "denoise_seconds": round(denoise_seconds, 1)})
        say(f"seed {seed} {name:>13s}: corrupted {pct(rows[-1]['corrupted'])}, denoise "
            f"{pct(rows[-1]['denoise'])}, entropy {pct(rows[-1]['entropy'])} ({k + 1}/{len(CORRUPTIONS)})")
    return rows


# ----------------------------------------------------------------------------- table
def table_shifts(X, y, seed: int) -> dict[str, tuple[Any, np.ndarray]]:
    """The table shifts: three camera recalibrations, and a change of class mix (control)."""
    from scanflow.datasets import change_population, recalibrate_camera

    mix = {"sky": 3, "grass": 3, "brickface": 1, "cement": 1, "foliage": 1, "path": 1, "window": 1}
    return {
        "camera (1.25, 1, 0.8) [demo]": (recalibrate_camera(X), y),
        "camera (1.5, 1, 0.6)": (recalibrate_camera(X, gains=(1.5, 1.0, 0.6)), y),
        "camera (0.8, 1.1, 1.3)": (recalibrate_camera(X, gains=(0.8, 1.1, 1.3)), y),
        "class mix (sky, grass x3) [control]": change_population(X, y, mix, len(X), seed=seed),
    }


def table_seed(seed: int, st: Settings) -> list[dict[str, Any]]:
    """One row per table shift: champion clean / shifted and the ``align`` candidate (one seed)."""
    from scanflow.datasets import split_segment
    from scanflow.improve.zero_label import ZeroLabelError, get_zero_label

    X_train, y_train, _, _, X_stream, y_stream = split_segment(seed=seed)
    model = segment_pipeline(X_train, y_train, seed)
    n = st.table_adapt
    adapt_rows, eval_rows = X_stream.iloc[:n].reset_index(drop=True), X_stream.iloc[n:].reset_index(drop=True)
    y_adapt, y_eval = y_stream[:n], y_stream[n:]
    clean = _acc(model, eval_rows, y_eval)
    rows = []
    shifted_adapt = table_shifts(adapt_rows, y_adapt, seed)
    for name, (X_bad, y_bad) in table_shifts(eval_rows, y_eval, seed + 1).items():
        row = {"seed": seed, "shift": name, "clean": clean, "corrupted": _acc(model, X_bad, y_bad)}
        try:
            cand = get_zero_label("align").adapt(model, shifted_adapt[name][0], X_train, y_train, seed=seed)
            row.update(align=_acc(cand, X_bad, y_bad), align_clean=_acc(cand, eval_rows, y_eval),
                       moved=list(cand.native.named_steps["align"].columns), note="")
        except ZeroLabelError as exc:  # nothing moved: the loop keeps the champion
            row.update(align=row["corrupted"], align_clean=clean, moved=[], note=str(exc))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- tables
def _rec(rows, key) -> list[float | None]:
    return [recovered(r[key], r["corrupted"], r["clean"]) for r in rows]


def _rec_text(rows, key) -> str:
    loss = np.mean([r["clean"] - r["corrupted"] for r in rows])
    vals = [v for v in _rec(rows, key) if v is not None]
    if not vals:
        return "—"
    ms = mean_std(vals)
    text = f"{100 * ms[0]:.0f}" + (f" ± {100 * ms[1]:.0f}" if len(vals) > 1 else "")
    return text + (" (loss < 2 pts)" if loss < MIN_LOSS else "")


def image_table(rows: list[dict[str, Any]]) -> str:
    from scanflow.datasets import CORRUPTIONS

    out = []
    for name in CORRUPTIONS:
        rs = [r for r in rows if r["corruption"] == name]
        out.append([name, pct_ms(r["clean"] for r in rs), pct_ms(r["corrupted"] for r in rs),
                    pct_ms(r["denoise"] for r in rs), _rec_text(rs, "denoise"),
                    pct_ms(r["entropy"] for r in rs), _rec_text(rs, "entropy"),
                    pct_ms(r["entropy_clean"] for r in rs)])
    seeds = len({r["seed"] for r in rows})
    return md_table(["corruption", "clean %", "corrupted %", "denoise %", "denoise recovered %",
                     "entropy %", "entropy recovered %", "entropy: clean %"], out,
                    f"MNIST-C, champion CNN, mean ± std over {seeds} seed(s) (recovered = share "
                    "of the clean − corrupted loss)")


def pooled(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Summary over corruptions: pooled recovery (Σ gain / Σ loss), mean recovery where the
    loss is at least 2 points, how many corruptions it helped / hurt (±1 point)."""
    big = [r for r in rows if r["clean"] - r["corrupted"] >= MIN_LOSS]
    gain = sum(r[key] - r["corrupted"] for r in rows)
    loss = sum(r["clean"] - r["corrupted"] for r in rows)
    clean_key = f"{key}_clean"
    return {"pooled_recovery": gain / loss if loss > 0 else None,
            "mean_recovery": mean_std(_rec(big, key)),
            "helped": sum(r[key] - r["corrupted"] >= 0.01 for r in rows),
            "hurt": sum(r[key] - r["corrupted"] <= -0.01 for r in rows),
            "n": len(rows), "clean_cost": float(np.mean([r["clean"] - r[clean_key] for r in rows]))}


def summary_table(image_rows, table_rows) -> tuple[str, dict[str, Any]]:
    stats = {"denoise (images)": pooled(image_rows, "denoise"),
             "entropy (images)": pooled(image_rows, "entropy")}
    camera = [r for r in table_rows if r["shift"].startswith("camera")]
    stats["align (table, camera)"] = pooled(camera, "align")
    stats["align (table, class mix)"] = pooled([r for r in table_rows if "mix" in r["shift"]], "align")
    out = [[name, pct(s["pooled_recovery"], 0),
            "—" if s["mean_recovery"] is None else f"{100 * s['mean_recovery'][0]:.0f}",
            f"{s['helped']}/{s['n']}", f"{s['hurt']}/{s['n']}", f"{100 * s['clean_cost']:+.1f}"]
           for name, s in stats.items()]
    return md_table(["candidate", "pooled recovered %", "mean recovered % (loss ≥ 2 pts)",
                     "cases helped (≥ +1 pt)", "cases hurt (≤ −1 pt)", "clean cost (pts)"], out,
                    "Summary (a case = one shift × one seed)"), stats


def segment_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for name in dict.fromkeys(r["shift"] for r in rows):
        rs = [r for r in rows if r["shift"] == name]
        moved = sorted({c for r in rs for c in r["moved"]})
        out.append([name, pct_ms(r["clean"] for r in rs), pct_ms(r["corrupted"] for r in rs),
                    pct_ms(r["align"] for r in rs), _rec_text(rs, "align"),
                    pct_ms(r["align_clean"] for r in rs),
                    f"{len(moved)} ({', '.join(c.replace('-mean', '') for c in moved[:4])}"
                    f"{', …' if len(moved) > 4 else ''})" if moved else "none: champion kept"])
    seeds = len({r["seed"] for r in rows})
    return md_table(["shift", "clean %", "shifted %", "align %", "align recovered %",
                     "align: clean %", "columns aligned"], out,
                    f"Segment table, StandardScaler + MLP(64), mean ± std over {seeds} seed(s)")


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    setup_torch(args.threads)
    st = Settings.make(args.quick, args.seeds)
    t0 = time.perf_counter()
    image_rows, table_rows = [], []
    for seed in st.seeds:
        image_rows += image_seed(seed, st, args.cache)
        table_rows += table_seed(seed, st)
    report = Report("Zero-label adaptation")
    report.add(f"seeds {st.seeds}; images: {st.n_adapt} unlabeled adaptation digits, {st.n_eval} "
               f"disjoint evaluation digits per corruption, champion {st.champion_epochs} epochs on "
               f"6,000 clean digits, denoiser pretrained {st.pretrain_steps} steps; table: "
               f"{st.table_adapt} unlabeled shifted rows, ~700 disjoint evaluation rows")
    report.add(image_table(image_rows))
    report.add(segment_table(table_rows))
    text, stats = summary_table(image_rows, table_rows)
    report.add(text)
    report.add(f"total {time.perf_counter() - t0:.0f} s (denoise pretraining "
               f"{image_rows[0]['denoise_seconds']:.0f} s for seed 0 when not cached; entropy "
               f"{np.mean([r['entropy_seconds'] for r in image_rows]):.1f} s per candidate)")
    report.write(args.output, {"settings": st.__dict__, "images": image_rows, "table": table_rows,
                               "summary": stats})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
