"""Accuracy recovered on MNIST-C per selection × improvement strategy × label budget.

Runs the experiment of ``scanflow experiment mnist-c`` (see scanflow.improve.experiment) and
prints its tables: the setting, accuracy on the mixed-corruption stream after improvement for
budgets of 20, 50, 100 and 200 labels (mean ± std over seeds), the selections' coverage of the
corruptions, and per-corruption accuracy before/after for the best combination. Labels come
from the oracle (ground truth), as the report says.

    .venv/bin/python benchmarks/improve_grid.py            # full grid, 3 seeds (15-60 min)
    .venv/bin/python benchmarks/improve_grid.py --quick    # the smoke test's grid (that of
                                                           # `scanflow experiment mnist-c --quick`)

Models are cached in ``<output>/state/cache``; a second run reuses them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tiny grid for CI")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3; quick 1)")
    ap.add_argument(
        "--seed-list",
        default=None,
        help="explicit seeds, e.g. 1 or 0,2 (run seeds in parallel processes sharing "
        "--output with --no-register, then once more with all seeds: every "
        "finished cell is resumed from the journal)",
    )
    ap.add_argument("--no-register", action="store_true", help="skip the MLflow registry step")
    ap.add_argument(
        "--budgets", default=None, help="comma-separated budgets (default 20,50,100,200)"
    )
    ap.add_argument("--selections", default=None, help="comma-separated selection strategies")
    ap.add_argument("--strategies", default=None, help="comma-separated improvement strategies")
    ap.add_argument(
        "--output", default=None, help="report folder (default benchmarks/out/improve_grid[-quick])"
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)"
    )
    ap.add_argument("--no-report", action="store_true", help="print tables only")
    args = ap.parse_args(argv)

    from scanflow.improve.experiment import ExperimentConfig, run_experiment
    from scanflow.improve.report import (
        grid_table,
        headline,
        per_corruption_table,
        selection_table,
        setting_table,
        write_report,
    )

    # --quick is the grid of `scanflow experiment mnist-c --quick` (the smoke test)
    cfg = ExperimentConfig.quick_config() if args.quick else ExperimentConfig()
    if args.seeds:
        cfg.seeds = list(range(args.seeds))
    if args.seed_list:
        cfg.seeds = [int(s) for s in args.seed_list.split(",")]
    if args.budgets:
        cfg.budgets = [int(b) for b in args.budgets.split(",")]
    if args.selections:
        cfg.selections = args.selections.split(",")
    if args.strategies:
        cfg.strategies = args.strategies.split(",")
    cfg.threads = args.threads
    out = Path(
        args.output
        or Path(__file__).parent / "out" / ("improve_grid-quick" if args.quick else "improve_grid")
    )
    t0, c0 = time.perf_counter(), time.process_time()
    results = run_experiment(
        cfg,
        out / "state",
        register=not args.no_register,
        progress=lambda m: print(
            f"[{time.perf_counter() - t0:7.1f}s] {m}", file=sys.stderr, flush=True
        ),
    )
    if not args.no_report:
        write_report(results, out)
    print(headline(results), end="\n\n")
    print(setting_table(results), end="\n\n")
    print(
        "Mixed-stream accuracy % (clean %) after improvement, mean ± std over "
        f"{len(cfg.seeds)} seed(s):\n"
    )
    print(grid_table(results), end="\n\n")
    print(selection_table(results), end="\n\n")
    print(per_corruption_table(results), end="\n\n")
    cpu = time.process_time() - c0
    where = f"; report in {out}" if not args.no_report else ""
    print(f"total {time.perf_counter() - t0:.0f} s wall, {cpu:.0f} s CPU of this process, "
          f"load average {os.getloadavg()[0]:.1f}{where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
