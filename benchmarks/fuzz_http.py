"""Fuzz every Scanflow HTTP service with schemathesis: ``--checks all``, stateful phase on.

Each app of ``tests/serve/fuzz_apps.py`` (labeling, prediction, an agent, the full ``scanflow
serve`` stack) is served by uvicorn on 127.0.0.1 and fuzzed through its own OpenAPI document;
the table counts operations, requests, server errors (5xx) and failed checks by name (a
response slower than 5 s fails ``max_response_time``: a hang).

    .venv/bin/python benchmarks/fuzz_http.py [--examples 100] [--apps labeling,stack]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.pop("SCANFLOW_TOKEN", None)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serve"))

from fuzz_apps import APPS, BUILDERS, run_schemathesis  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from scanflow.serve.server import ServerThread  # noqa: E402

PHASES = "examples,coverage,fuzzing,stateful"
HANG_S = 5  # a response slower than this fails the max_response_time check (a hang)
CONFIG = Path(__file__).resolve().with_name("schemathesis.toml")


def fuzz_app(name: str, examples: int, checks: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"scanflow-fuzz-{name}-"))
    app, schema_path = BUILDERS[name](folder)
    start = time.perf_counter()
    with ServerThread(app) as server:
        result = run_schemathesis(server.url, schema_path, folder / "report", checks=checks,
                                  max_examples=examples, phases=PHASES, config=CONFIG,
                                  extra=("--max-response-time", str(HANG_S)))
    result["seconds"] = time.perf_counter() - start
    result["report"] = str(folder / "report")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100, help="schemathesis --max-examples")
    ap.add_argument("--apps", default=",".join(APPS))
    ap.add_argument("--checks", default="all")
    args = ap.parse_args()
    table = Table(title=f"schemathesis --checks {args.checks}, phases {PHASES}, "
                        f"--max-examples {args.examples}, --max-response-time {HANG_S}")
    for column in ("app", "operations", "requests", "5xx", "failed checks", "time"):
        table.add_column(column, justify="right")
    bad = 0
    for name in args.apps.split(","):
        r = fuzz_app(name, args.examples, args.checks)
        failed = ", ".join(f"{k}: {v}" for k, v in sorted(r["failures"].items())) or "0"
        table.add_row(name, str(r["operations"]), str(r["requests"]), str(r["server_errors"]),
                      failed, f"{r['seconds']:.0f} s")
        bad += r["server_errors"] + sum(r["failures"].values())
        if r["failures"] or r["server_errors"]:
            print(r["output"][-6000:])
        print(f"{name}: statuses {r['statuses']} (report in {r['report']})", flush=True)
    Console().print(table)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
