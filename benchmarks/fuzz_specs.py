"""Fuzz ``scanflow.yaml`` loading and validation: malformed, mutated and hostile files.

Runs the strategies of ``tests/app/spec_strategies.py`` for ``--cases`` cases (default 5,000):
each file goes through what ``scanflow validate`` does (decode, bounded YAML, field checks,
structure, agent configs) and must end valid or in a SpecError. Counts raw exceptions (any
other exception), hangs (a case over ``--hang`` seconds, stopped by an alarm) and, for one file
in ``--cli-every``, the exit code of the real ``scanflow validate`` (70 = a crash).

    .venv/bin/python benchmarks/fuzz_specs.py [--cases 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "scanflow-hypothesis"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "app"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from spec_strategies import load_and_validate, spec_bytes  # noqa: E402

from scanflow.cli import app as cli  # noqa: E402
from scanflow.cli.exits import INTERNAL_ERROR, run_guarded  # noqa: E402


class Hang(Exception):
    """A case ran past the time limit."""


def _alarm(signum, frame):
    raise Hang()


def fuzz(cases: int, hang_s: float, cli_every: int, rng_seed: int) -> dict:
    counts: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    slowest = [0.0]
    folder = Path(tempfile.mkdtemp(prefix="scanflow-fuzz-cli-"))
    signal.signal(signal.SIGALRM, _alarm)

    @seed(rng_seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(spec_bytes)
    def one(raw_file: bytes) -> None:
        counts["cases"] += 1
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, hang_s)
        try:
            counts[load_and_validate(raw_file)] += 1
        except Hang:
            counts["hangs"] += 1
        except Exception as exc:  # what the fuzzer looks for
            raw[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        slowest[0] = max(slowest[0], time.perf_counter() - start)
        if counts["cases"] % cli_every == 0:
            _cli_sample(raw_file, folder, counts)

    one()
    return {"counts": counts, "raw": raw, "slowest": slowest[0]}


def _cli_sample(raw_file: bytes, folder: Path, counts: Counter) -> None:
    (folder / "scanflow.yaml").write_bytes(raw_file)
    counts["cli samples"] += 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = run_guarded(cli, ["validate", str(folder)])
    if code == INTERNAL_ERROR or "Traceback" in out.getvalue():
        counts["cli crashes"] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--hang", type=float, default=5.0, help="seconds after which a case is a hang")
    ap.add_argument("--cli-every", type=int, default=50, help="run `scanflow validate` on 1 case in N")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = fuzz(args.cases, args.hang, args.cli_every, args.seed)
    c = result["counts"]
    table = Table(title=f"spec fuzzing ({time.perf_counter() - t0:.0f} s, seed {args.seed})")
    for column in ("cases", "valid", "spec errors", "raw exceptions", f"hangs > {args.hang:g} s",
                   "slowest case", "cli samples", "cli crashes"):
        table.add_column(column, justify="right")
    table.add_row(str(c["cases"]), str(c["valid"]), str(c["spec error"]), str(sum(result["raw"].values())),
                  str(c["hangs"]), f"{result['slowest']:.2f} s", str(c["cli samples"]), str(c["cli crashes"]))
    Console().print(table)
    for what, n in result["raw"].most_common(20):
        print(f"  {n:5d}  {what}")
    sys.exit(1 if result["raw"] or c["hangs"] or c["cli crashes"] else 0)


if __name__ == "__main__":
    main()
