"""Fast start: a chain of N trivial Python steps as a shell loop, a Metaflow local run and a
tracked ``scanflow run``, side by side; and how long ``scanflow --help`` and ``validate`` take.

Every figure is the wall time of a fresh command (a new interpreter, as a user types it), the
median of ``--repeats`` interleaved repeats. Scanflow runs tracked, as by default: the command
ends when its nodes end; its records reach MLflow a moment later, written by the background
writer (``scanflow.track.journal``). The "in MLflow" column is the time from the command's
start until the writer has written every record (the run's journal is gone).

Metaflow is not a dependency of Scanflow: install it in a throwaway venv, then point the script
at its interpreter (``--metaflow-python``, default ``$METAFLOW_PYTHON``)::

    python3 -m venv /tmp/mfvenv && /tmp/mfvenv/bin/pip install "metaflow==2.19.*"
    METAFLOW_PYTHON=/tmp/mfvenv/bin/python .venv/bin/python benchmarks/fast_start.py [--quick]

Metaflow needs a ``start`` and an ``end`` step, so its 1-step flow has two steps (both trivial).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCANFLOW = [sys.executable, "-m", "scanflow.cli"]
TRIVIAL = "import os\n"


def scanflow_app(root: Path, steps: int) -> Path:
    folder = root / f"chain{steps}"
    folder.mkdir(parents=True)
    (folder / "step.py").write_text(TRIVIAL)
    nodes = "\n".join(f"      - {{name: s{i}, script: step.py{f', depends_on: [s{i - 1}]' if i else ''}}}"
                      for i in range(steps))
    (folder / "scanflow.yaml").write_text(f"name: chain{steps}\nworkflows:\n  - name: main\n    nodes:\n{nodes}\n")
    return folder


def metaflow_flow(root: Path, steps: int) -> Path:
    names = ["start", *(f"s{i}" for i in range(1, max(steps, 2) - 1)), "end"]
    body = []
    for i, name in enumerate(names):
        body.append(f"    @step\n    def {name}(self):\n        import os\n")
        if name != "end":
            body.append(f"        self.next(self.{names[i + 1]})\n")
    path = root / f"flow{steps}.py"
    path.write_text("from metaflow import FlowSpec, step\n\n\nclass Chain(FlowSpec):\n" + "\n".join(body)
                    + "\n\nif __name__ == '__main__':\n    Chain()\n")
    return path


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def scanflow_run(app: Path) -> tuple[float, float]:
    """(seconds until the command ends, seconds until its records are all in MLflow)."""
    started = time.perf_counter()
    ended = timed([*SCANFLOW, "run", str(app), "--no-cache"], cwd=app)
    journals = app / ".scanflow" / "tracking" / "journals"
    while any(journals.glob("*.jsonl")):
        time.sleep(0.005)
    return ended, time.perf_counter() - started


def shell_loop(app: Path, steps: int) -> float:
    loop = f'for i in $(seq {steps}); do "{sys.executable}" step.py || exit 1; done'
    return timed(["bash", "-c", loop], cwd=app)


def metaflow_run(python: str, flow: Path) -> float:
    env = {**os.environ, "METAFLOW_DEFAULT_METADATA": "local", "METAFLOW_DEFAULT_DATASTORE": "local",
           "USERNAME": os.environ.get("USER", "bench")}
    return timed([python, str(flow), "--quiet", "run"], cwd=flow.parent, env=env)


def measure(steps: int, root: Path, metaflow: str | None, repeats: int) -> dict[str, float]:
    app = scanflow_app(root, steps)
    flow = metaflow_flow(root, steps) if metaflow else None
    scanflow_run(app)  # the first run makes the store (MLflow's migrations): not what users wait for
    if flow is not None:
        metaflow_run(metaflow, flow)
    times: dict[str, list[float]] = {"shell": [], "metaflow": [], "scanflow": [], "mlflow": []}
    for _ in range(repeats):  # interleaved: a change of load hits every column alike
        times["shell"].append(shell_loop(app, steps))
        if flow is not None:
            times["metaflow"].append(metaflow_run(metaflow, flow))
        ended, recorded = scanflow_run(app)
        times["scanflow"].append(ended)
        times["mlflow"].append(recorded)
    return {k: statistics.median(v) if v else float("nan") for k, v in times.items()}


def command_times(root: Path, repeats: int) -> dict[str, float]:
    app = scanflow_app(root, 3) if not (root / "chain3").exists() else root / "chain3"
    return {"scanflow --help": statistics.median(timed([*SCANFLOW, "--help"], cwd=root) for _ in range(repeats)),
            "scanflow validate APP": statistics.median(timed([*SCANFLOW, "validate", str(app)], cwd=root)
                                                       for _ in range(repeats))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 steps, 2 repeats")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="*", default=[1, 10, 30])
    parser.add_argument("--metaflow-python", default=os.environ.get("METAFLOW_PYTHON"),
                        help="the interpreter of a venv where Metaflow is installed")
    args = parser.parse_args()
    steps, repeats = ([1, 10], 2) if args.quick else (args.steps, args.repeats)
    metaflow = args.metaflow_python
    if metaflow and subprocess.run([metaflow, "-c", "import metaflow"], capture_output=True).returncode != 0:
        metaflow = None
    root = Path(tempfile.mkdtemp(prefix="scanflow-fast-start-"))
    try:
        rows = [(n, measure(n, root, metaflow, repeats)) for n in steps]
        commands = command_times(root, max(repeats, 3))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nA chain of N trivial steps: wall seconds, median of {repeats} (cpu count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print("| steps | shell loop | Metaflow | Scanflow (`scanflow run`, tracked) | all records in MLflow | "
          "Metaflow / Scanflow |")
    print("|---|---|---|---|---|---|")
    for n, t in rows:
        ratio = t["metaflow"] / t["scanflow"] if metaflow else float("nan")
        print(f"| {n} | {t['shell']:.2f} s | {t['metaflow']:.2f} s | **{t['scanflow']:.2f} s** | "
              f"{t['mlflow']:.2f} s | {ratio:.2f}x |")
    if not metaflow:
        print("\nMetaflow: not installed (install it in a throwaway venv and pass --metaflow-python; "
              "see this script's docstring)")
    print()
    for name, seconds in commands.items():
        print(f"{name}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
