"""Agent reaction: from drift onset in the stream to the label request, and to promotion.

Runs the demo loop (training workflow, real API over HTTP, the four agents, the oracle labeler)
and reads the reaction off what happened: the stream position and time of the checker's first
drift alert with a label request, of the planner's promotion, and of the first answer by the
promoted model. Samples are positions in the stream; seconds are measured from the first
corrupted request. The stream pace (requests per second) sets how samples relate to seconds.

    .venv/bin/python benchmarks/agent_reaction.py [--quick] [--state-dir DIR] [--runs N]

``--state-dir`` keeps the trained weights between runs (default: a folder under the system
temp dir, reused, so only the first run trains).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from rich.console import Console
from rich.table import Table

from scanflow.demo import DemoSettings, run_demo


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the demo's --quick preset, shorter stream")
    p.add_argument("--state-dir", type=Path, default=Path(tempfile.gettempdir()) / "scanflow-bench-reaction")
    p.add_argument("--runs", type=int, default=1, help="repeat with seeds 0..N-1")
    p.add_argument("--corruption", default="fog")
    args = p.parse_args()
    rows = []
    for seed in range(args.runs):
        # One state folder per seed: each run starts from its own registry and databases (a
        # second run in the same folder would see the first run's champion and decisions).
        settings = DemoSettings.preset(quick=args.quick, state_dir=args.state_dir / f"seed-{seed}", seed=seed,
                                       corruption=args.corruption)
        if args.quick:
            settings.after_batches = 2
        s = run_demo(settings)
        rows.append((seed, s))
    table = Table(title=f"Agent reaction ({'quick' if args.quick else 'full'} demo, {args.corruption}, "
                        f"batches of {rows[0][1]['settings']['batch_size']}, pace {rows[0][1]['settings']['pace']} s)")
    for col in ("seed", "onset", "event", "sample", "samples after onset", "seconds after onset"):
        table.add_column(col, justify="left" if col == "event" else "right")
    for seed, s in rows:
        r, onset = s["reaction"], s["drift_onset_sample"]
        for key, label in (("drift_detected", "drift alert (checker)"), ("label_request", "label request (checker)"),
                           ("promotion", "promotion (planner)"), ("first_answer_by_new_model", "first answer by new model")):
            v = r.get(key)
            if v is None:
                table.add_row(str(seed), str(onset), label, "—", "—", "—")
            else:
                table.add_row(str(seed), str(onset), label, str(v["sample"]), str(v["sample"] - onset),
                              f"{v['seconds_after_onset']:.1f}")
        table.add_row(str(seed), "", f"accuracy on corrupted: {_pct(s['accuracy_before'])} -> "
                      f"{_pct(s['accuracy_after'])}, {s['labels_used']} labels", "", "", "")
    Console().print(table)


if __name__ == "__main__":
    main()
