"""The demo's life cycle (clean → fog → impulse noise → clean), per seed and on average.

Runs ``scanflow.demo.run_demo`` (training workflow, real prediction API over HTTP, the four
agents, the oracle labeler) once per seed, each in its own process and a fresh state folder
(registry, MLflow store, label queue and agent memory are new; only the trained-weights cache
``cache/`` is kept), and reads off its summary:

* labels per drift episode: asked for, answered (by people / by the oracle), used for training,
  held out for the gate — against the episode budget (100);
* samples from the shift's onset to the episode's first and final promotion;
* accuracy per phase of the answers the API really gave, before the phase's first promotion and
  after its last one;
* false alarms: checker alerts after the episode settled (or after the last promotion when it
  never settled) while the shift continues, and during the final clean phase (target 0);
* label requests after promotion (target 0).

Every missed target is printed as ``MISSED: ...``.

    .venv/bin/python benchmarks/lifecycle.py            # full demo settings, 3 seeds (~30 min)
    .venv/bin/python benchmarks/lifecycle.py --quick    # the demo's --quick preset, 1 seed
    .venv/bin/python benchmarks/lifecycle.py --output out/lifecycle

The stream's pace is wall-clock: run it on an otherwise idle machine, or the agents' reaction
(samples from onset to promotion) looks slower than it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Report, md_table, num_ms, parser, pct, pct_ms, say  # noqa: E402

BUDGET = 100
SHIFTS = ["fog", "impulse_noise"]
TARGET_GAP = 0.03  # the improver's default: a final model is within this of clean accuracy


# ----------------------------------------------------------------------------- running
def fresh_state(folder: Path) -> Path:
    """Empty ``folder`` except its trained-weights cache (so only training time is saved)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name == "cache":
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return folder


def run_seed(seed: int, quick: bool, state_root: Path, attempts: int = 2) -> dict[str, Any]:
    """One demo in a child process (``run_demo`` leaves ``$MLFLOW_TRACKING_URI`` pointing at its
    store, so a second demo in the same process would use the first one's MLflow registry).
    A crashed demo is retried in a fresh folder; every crash is kept in ``failures``."""
    failures: list[str] = []
    for _ in range(attempts):
        state = fresh_state(state_root / ("quick" if quick else "full") / f"seed-{seed}")
        out, log = state / "bench-summary.json", state / "bench-child.log"
        cmd = [sys.executable, __file__, "--run-seed", str(seed), "--state-dir", str(state),
               "--summary-out", str(out)] + (["--quick"] if quick else [])
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        t0 = time.perf_counter()
        with open(log, "w") as err:
            code = subprocess.run(cmd, env=env, stderr=err).returncode
        if code == 0 and out.is_file():
            summary = json.loads(out.read_text())
            summary["bench_wall_seconds"] = round(time.perf_counter() - t0, 1)
            summary["bench_failures"] = failures
            out.write_text(json.dumps(summary, default=str))  # for --reuse
            say(f"seed {seed}: {summary['stream_end']}, {summary['samples_streamed']} samples, "
                f"{summary['labels_answered']} labels, {summary['bench_wall_seconds']:.0f} s")
            return summary
        lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
        failures.append(lines[-1] if lines else f"exit status {code}")
        say(f"seed {seed}: the demo crashed ({failures[-1]}); log kept in {log}")
        shutil.copy(log, state_root / f"crash-seed-{seed}-{len(failures)}.log")
    raise RuntimeError(f"seed {seed}: the demo crashed {attempts} times: {failures}")


def summary_path(seed: int, quick: bool, state_root: Path) -> Path:
    return state_root / ("quick" if quick else "full") / f"seed-{seed}" / "bench-summary.json"


def reread(seed: int, quick: bool, state_root: Path) -> dict[str, Any]:
    """The summary a previous run left in the seed's folder (``--reuse``)."""
    summary = json.loads(summary_path(seed, quick, state_root).read_text())
    summary.setdefault("bench_wall_seconds", summary.get("duration_seconds", 0.0))
    return summary


def demo_child(seed: int, quick: bool, state: Path, summary_out: Path) -> int:
    """The child process of :func:`run_seed`: one demo, its summary written as JSON."""
    from scanflow.demo import DemoSettings, run_demo

    settings = DemoSettings.preset(quick=quick, state_dir=state, seed=seed, shifts=list(SHIFTS))
    summary = run_demo(settings)
    summary_out.write_text(json.dumps(summary, default=str))
    return 0


# ----------------------------------------------------------------------------- reading
def episode_row(ep: dict[str, Any]) -> dict[str, Any]:
    onset = ep.get("onset_sample")
    proms = ep.get("promotions") or []
    final = next((p for p in proms if p["final"]), None)
    lab = ep["labels"]
    return {
        "episode": ep["id"], "phase": ep.get("phase"), "status": ep["status"],
        "opened_after": None if onset is None else ep["opened_at_sample"] - onset,
        "requested": lab["requested"], "answered": lab["answered"], "human": lab["human"],
        "oracle": lab["oracle"], "trained_on": lab["trained_on"], "held_out": lab["held_out"],
        "rounds": ep["rounds"], "promotions": len(proms),
        "to_first_promotion": None if not proms or onset is None else proms[0]["sample"] - onset,
        "to_final_promotion": None if final is None or onset is None else final["sample"] - onset,
        "zero_label": ep.get("zero_label"),
    }


def phase_row(ph: dict[str, Any], last_phase: bool) -> dict[str, Any]:
    return {
        "phase": ph["name"], "shift": ph["shift"], "final_clean": last_phase and not ph["shift"],
        "samples": ph["samples"][1] - ph["samples"][0],
        "accuracy_before": ph["accuracy_before"], "answers_before": ph["answers_before"],
        "accuracy_after": ph["accuracy_after"], "answers_after": ph["answers_after"],
        "promotions": len(ph["promotions"]), "counted_from": ph["counted_from"],
        "alarms": ph["alarms"], "label_requests": ph["label_requests"],
        "label_requests_after_promotion": ph["label_requests_after_promotion"],
    }


def digest(seed: int, s: dict[str, Any]) -> dict[str, Any]:
    """The numbers this benchmark reports, from one demo summary."""
    phases = s["phases"]
    return {
        "seed": seed, "mode": s["mode"], "stream_end": s["stream_end"],
        "samples_streamed": s["samples_streamed"], "wall_seconds": s["bench_wall_seconds"],
        "labels": s["labels"],
        "phases": [phase_row(p, i == len(phases) - 1) for i, p in enumerate(phases)],
        "episodes": [episode_row(e) for e in s["episodes"]],
        "errors": s["errors"], "crashes": s.get("bench_failures", []),
    }


# ----------------------------------------------------------------------------- targets
def missed_targets(d: dict[str, Any]) -> list[str]:
    """Plain sentences for every target one seed missed."""
    out, seed = [], d["seed"]
    out += [f"seed {seed}: a demo run crashed and was retried ({c})" for c in d["crashes"]]
    names = [p["phase"] for p in d["phases"]]
    expected = ["clean", *SHIFTS, "clean again"]
    if names != expected:
        out.append(f"seed {seed}: the stream did not run every phase ({' → '.join(names)}; "
                   f"{d['stream_end']})")
    for ep in d["episodes"]:
        if ep["answered"] > BUDGET:
            out.append(f"seed {seed}: episode {ep['episode']} used {ep['answered']} labels > {BUDGET}")
    clean = d["phases"][0]["accuracy_before"] if d["phases"] else None
    for p in d["phases"]:
        if p["shift"]:
            out += _shift_misses(seed, p, [e for e in d["episodes"] if e["phase"] == p["phase"]], clean)
        elif p["alarms"]:
            out.append(f"seed {seed}: {p['alarms']} false alarm(s) during the clean phase '{p['phase']}'")
    return out


def _shift_misses(seed: int, p: dict[str, Any], eps: list[dict[str, Any]],
                  clean: float | None) -> list[str]:
    out = []
    name = p["phase"]
    settled = [e for e in eps if e["status"] in ("settling", "resolved")]
    final_acc = p["accuracy_after"] if p["accuracy_after"] is not None else p["accuracy_before"]
    if settled and clean is not None and final_acc is not None and final_acc < clean - TARGET_GAP:
        out.append(f"seed {seed}: '{name}' was settled (no more alarms or labels) at {pct(final_acc)} % "
                   f"while clean accuracy is {pct(clean)} % (target: within {100 * TARGET_GAP:.0f} pts)")
    if not eps:
        out.append(f"seed {seed}: no drift episode opened for '{name}' (its batches joined an "
                   "earlier episode, or no alarm)")
    elif not any(e["to_final_promotion"] is not None or e["status"] in ("settling", "resolved")
                 for e in eps):
        out.append(f"seed {seed}: '{name}' was never settled (no final promotion; episode "
                   f"{'/'.join(e['status'] for e in eps)})")
    if p["counted_from"] != "phase start" and p["alarms"]:
        out.append(f"seed {seed}: {p['alarms']} alarm(s) after the {p['counted_from']} while "
                   f"'{name}' continued (target 0)")
    after = p["label_requests_after_promotion"]
    if after:
        out.append(f"seed {seed}: {after} label request(s) after the model that adapted the loop to '{name}' "
                   "(target 0)")
    if p["accuracy_after"] is not None and p["accuracy_before"] is not None \
            and p["accuracy_after"] < p["accuracy_before"]:
        out.append(f"seed {seed}: accuracy on '{name}' fell after promotion")
    return out


# ----------------------------------------------------------------------------- tables
def phase_table(digests: list[dict[str, Any]]) -> str:
    rows = []
    for d in digests:
        for p in d["phases"]:
            rows.append([d["seed"], p["phase"], p["samples"],
                         f"{pct(p['accuracy_before'])} ({p['answers_before']})",
                         "—" if p["accuracy_after"] is None
                         else f"{pct(p['accuracy_after'])} ({p['answers_after']})",
                         p["promotions"], p["counted_from"], p["alarms"], p["label_requests"],
                         "—" if p["label_requests_after_promotion"] is None
                         else p["label_requests_after_promotion"]])
    return md_table(["seed", "phase", "samples", "acc. before % (answers)", "acc. after % (answers)",
                     "promotions", "alarms counted from", "alarms", "label req. since then",
                     "label req. after the adapting model"], rows,
                    "Per phase (accuracy of the API's real answers; alarms = checker alerts)")


def episode_table(digests: list[dict[str, Any]]) -> str:
    rows = []
    for d in digests:
        for e in d["episodes"]:
            z = e["zero_label"] or {}
            rows.append([d["seed"], e["episode"], e["phase"], e["status"], e["opened_after"],
                         f"{e['requested']}/{BUDGET}", f"{e['answered']} ({e['human']}/{e['oracle']})",
                         f"{e['trained_on']}/{e['held_out']}", e["rounds"], e["promotions"],
                         e["to_first_promotion"], e["to_final_promotion"],
                         f"{z.get('method', '—')}{' promoted' if z.get('promoted') else ''}"])
    return md_table(["seed", "episode", "phase", "status", "opened (samples after onset)",
                     "asked/budget", "answered (people/oracle)", "trained/held out", "rounds",
                     "promotions", "onset→first promotion", "onset→final promotion",
                     "zero-label candidate"], rows, "Per drift episode (samples counted from the shift's onset)")


def mean_table(digests: list[dict[str, Any]]) -> str:
    order = ["clean", *SHIFTS, "clean again"]
    rows = []
    for name in order:
        ph = [p for d in digests for p in d["phases"] if p["phase"] == name]
        ep = [e for d in digests for e in d["episodes"] if e["phase"] == name]
        if not ph:
            rows.append([name, f"0/{len(digests)}"] + ["—"] * 8)
            continue
        rows.append([name, f"{len(ph)}/{len(digests)}",
                     pct_ms(p["accuracy_before"] for p in ph), pct_ms(p["accuracy_after"] for p in ph),
                     num_ms((p["alarms"] for p in ph), 1),
                     num_ms((p["label_requests_after_promotion"] for p in ph), 1),
                     num_ms((e["answered"] for e in ep), 1) if ep else "—",
                     num_ms((e["human"] for e in ep), 1) if ep else "—",
                     num_ms(e["to_first_promotion"] for e in ep) if ep else "—",
                     num_ms(e["to_final_promotion"] for e in ep) + _of(ep) if ep else "—"])
    return md_table(["phase", "seeds reaching it", "acc. before %", "acc. after %", "alarms",
                     "label req. after promotion", "labels answered / episode",
                     "of which by people", "onset→first promotion", "onset→final promotion"],
                    rows, f"Mean ± std over {len(digests)} seed(s)")


def _of(eps: list[dict[str, Any]]) -> str:
    n = sum(e["to_final_promotion"] is not None for e in eps)
    return "" if n == len(eps) else f" ({n} of {len(eps)} episodes)"


def totals_table(digests: list[dict[str, Any]]) -> str:
    rows = [[d["seed"], d["labels"]["answered"], d["labels"]["human"], d["labels"]["oracle"],
             d["labels"]["requested"], d["labels"]["skipped"], d["samples_streamed"],
             d["stream_end"], f"{d['wall_seconds']:.0f}"] for d in digests]
    return md_table(["seed", "labels answered", "by people", "by the oracle", "asked", "skipped",
                     "samples streamed", "stream end", "wall s"], rows, "Totals per seed")


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--state-dir", type=Path, default=None,
                    help="root of the per-seed state folders (default <cache>/lifecycle); each "
                         "seed runs in its own child process and folder")
    ap.add_argument("--reuse", action="store_true",
                    help="re-read the per-seed summaries a previous run left (a seed without one "
                         "is run), e.g. to add seeds 1 and 2 to a run of seed 0")
    ap.add_argument("--run-seed", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--summary-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run_seed is not None:
        return demo_child(args.run_seed, args.quick, args.state_dir, args.summary_out)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    root = args.state_dir or args.cache / "lifecycle"
    t0 = time.perf_counter()
    digests = []
    for seed in seeds:
        say(f"seed {seed}: running the {'quick' if args.quick else 'full'} demo in {root}")
        reuse = args.reuse and summary_path(seed, args.quick, root).is_file()
        digests.append(digest(seed, reread(seed, args.quick, root) if reuse
                              else run_seed(seed, args.quick, root)))
    report = Report("Life cycle: clean → fog → impulse noise → clean")
    report.add(f"{'quick' if args.quick else 'full'} demo settings, seeds {seeds}, oracle labels, "
               f"budget {BUDGET} labels per episode")
    for table in (phase_table, episode_table, mean_table, totals_table):
        report.add(table(digests))
    missed = [m for d in digests for m in missed_targets(d)]
    report.add("\n".join(f"MISSED: {m}" for m in missed) if missed else "Every target met.")
    report.add(f"total {time.perf_counter() - t0:.0f} s" + (" (some summaries re-read with --reuse; the demo "
               f"runs took {sum(d['wall_seconds'] for d in digests):.0f} s)" if args.reuse else ""))
    report.write(args.output, {"seeds": seeds, "mode": "quick" if args.quick else "full",
                               "digests": digests, "missed": missed})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
