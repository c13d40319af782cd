"""Every shell block of README.md and docs/*.md runs, as written, in a real shell.

Each Markdown file gets a fresh temporary folder holding a copy of the repository's ``src/``
and ``examples/``; its ``bash``/``sh`` blocks run there in order (one ``bash -euo pipefail``
per block, so a block may use what an earlier one made), with the ``scanflow`` of this
interpreter on PATH and the copy's ``src`` first on PYTHONPATH. A block that cannot run in CI
carries ``<!-- doc-test: skip: why -->`` on the line above its fence.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(bash|sh|shell)\s*$")
SKIP = re.compile(r"^<!-- doc-test: skip: (?P<why>\S.*\S) -->$")


def shell_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of every shell block of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            skip = SKIP.match(lines[i - 1]) if i else None
            blocks.append((i + 1, "\n".join(lines[i + 1:end]), skip["why"] if skip else None))
            i = end
        i += 1
    return blocks


def _workspace(tmp: Path) -> dict[str, str]:
    """A copy of the repository's code and examples in ``tmp``, and the environment to run in."""
    ignore = shutil.ignore_patterns(".scanflow", "__pycache__", "*.pyc", "mlruns")
    for part in ("src", "examples"):
        shutil.copytree(ROOT / part, tmp / part, ignore=ignore)
    bin_dir = tmp / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "scanflow"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m scanflow.cli "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCANFLOW_", "MLFLOW_TRACKING", "PYTEST_"))}
    env.update(PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent),
                                     env.get("PATH", "")]),
               PYTHONPATH=str(tmp / "src"), MLFLOW_DISABLE_TELEMETRY="true", COLUMNS="120")
    return env


def _runnable(doc: Path) -> list[tuple[int, str]]:
    return [(line, code) for line, code, why in shell_blocks(doc) if why is None]


@pytest.mark.parametrize("doc", [d for d in DOCS if _runnable(d)], ids=lambda p: p.name)
def test_every_shell_block_runs_as_written(doc, tmp_path):
    blocks = _runnable(doc)
    env = _workspace(tmp_path)
    for line, code in blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (
            f"{doc.name}:{line}: exit {done.returncode}\n$ {code}\n{done.stdout[-3000:]}"
            f"\n{done.stderr[-3000:]}")


def test_skipped_blocks_are_few_and_say_why():
    skipped = [(doc.name, line, why) for doc in DOCS for line, _, why in shell_blocks(doc) if why]
    assert all(len(why.split()) >= 4 for _, _, why in skipped), skipped
    # The deploy page shows cluster and server commands (KubeRay, a Ray cluster, PostgreSQL,
    # Ray Serve) that CI cannot run; each names the test that runs what it shows.
    assert len(skipped) <= 12, skipped


def test_a_skip_marker_must_sit_right_above_a_shell_block():
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        for i, text in enumerate(lines):
            if text.startswith("<!-- doc-test"):
                assert SKIP.match(text) and FENCE.match(lines[i + 1]), f"{doc.name}:{i + 1}"
