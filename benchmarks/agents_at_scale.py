"""Agents at scale: several models, every agent run by several processes at once, one PostgreSQL.

Each model has a tracker, a checker, an improver and a planner; every agent runs in each of
``--processes`` agent processes (replicas contending for its inbox), so a model has
``4 x processes`` agent instances. Feeders write every model's predictions at once (clean
batches, then drifted ones), labelers answer the labeling rounds concurrently through the
label store, and the agents go drift alarm -> episode -> labeling rounds -> candidates ->
promotions. The table counts, per model and in total: events handled (messages), actions
taken, duplicates (a message handled twice, an action run twice, an effect twice, a sample
asked twice: must be 0) and lost (a message not handled, an expected action not done, a label
left unanswered: must be 0), and the throughput of the whole run (wall time from starting the
agent processes to the last action).

    eval "$(bash scripts/postgres-test-server.sh start)"
    PYTHONPATH=src python benchmarks/agents_at_scale.py            # 8 models x 3 processes
    PYTHONPATH=src python benchmarks/agents_at_scale.py --quick    # 4 models x 2 processes

The scenario is tests/agents/scale_agents.py (the same as tests/agents/test_agents_at_scale.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "agents"))

import sqlalchemy as sa  # noqa: E402

ENV_URL = "SCANFLOW_TEST_POSTGRES_URL"


def _options() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4 models x 2 processes, 10 batches each")
    ap.add_argument("--models", type=int, default=None)
    ap.add_argument("--processes", type=int, default=None, help="agent processes (replicas)")
    ap.add_argument("--batches", type=int, default=None, help="tracker batches per model")
    ap.add_argument("--url", default=os.environ.get(ENV_URL, ""),
                    help=f"a PostgreSQL server (default ${ENV_URL}); a new database is made on it")
    return ap.parse_args()


def _fresh_database(server_url: str) -> tuple[sa.Engine, str, str]:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"scanflow_bench_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return engine, name, engine.url.set(database=name).render_as_string(hide_password=False)


def _table(s, counts) -> str:
    head = "| model | agents | events handled | actions taken | duplicates | lost |"
    rows = [head, "|---|---:|---:|---:|---:|---:|"]
    for m, c in counts.items():
        rows.append(f"| {m} | {c['agents']} | {c['events']} | {c['actions']} | {c['duplicates']} "
                    f"| {c['lost']} |")
    tot = {k: sum(c[k] for c in counts.values()) for k in ("agents", "events", "actions",
                                                            "duplicates", "lost")}
    rows.append(f"| **all {len(counts)}** | {tot['agents']} | {tot['events']} | {tot['actions']} "
                f"| {tot['duplicates']} | {tot['lost']} |")
    rows.append("")
    rows.append(f"{len(counts)} models x {s.processes} agent processes ({tot['agents']} agent "
                f"instances), {s.labelers} labelers: {s.elapsed:.1f} s wall, "
                f"{tot['events'] / s.elapsed:.1f} events/s, {tot['actions'] / s.elapsed:.1f} actions/s")
    return "\n".join(rows), tot


def main() -> int:
    args = _options()
    if not args.url:
        print(f"no PostgreSQL: set {ENV_URL} or start one with "
              '`eval "$(bash scripts/postgres-test-server.sh start)"`', file=sys.stderr)
        return 2
    from scale_agents import Scenario, run_scenario, tally  # lazy: after the path is set

    models = args.models or (4 if args.quick else 8)
    processes = args.processes or (2 if args.quick else 3)
    batches = args.batches or (10 if args.quick else 20)
    engine, name, url = _fresh_database(args.url)
    try:
        with tempfile.TemporaryDirectory(prefix="scanflow-scale-") as tmp:
            s = run_scenario(Scenario(url, Path(tmp), models=models, processes=processes,
                                      batches=batches, drifted=batches * 6 // 10, timeout=600))
            table, tot = _table(s, tally(s))
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
    print(table)
    return 0 if tot["duplicates"] == 0 and tot["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
