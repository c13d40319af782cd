"""Isolated environments for nodes with ``isolated: true``: one venv per distinct requirements
set, created once under ``<state>/envs/<hash>/`` and reused by every node and run that asks
for the same set.

The venv is made with ``python -m venv --system-site-packages --without-pip``, and a ``.pth``
file adds the site-packages of the interpreter running Scanflow (usually the project's own
venv), so that everything already installed is importable without a download. Requirements
are then installed into the venv with that interpreter's pip; a requirement that is already
satisfied installs nothing. Packages installed in the venv shadow the inherited ones.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import site
import subprocess
import sys
import threading
from pathlib import Path

from filelock import FileLock

from scanflow.errors import ScanflowError

_LOCK = threading.Lock()


class EnvCreationError(ScanflowError, RuntimeError):
    """Creating an isolated environment failed; the message holds pip's last lines."""


def parent_site_dirs() -> list[str]:
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if Path(d).is_dir()]


def env_key(requirements: list[str], python: str = sys.executable) -> str:
    payload = {"requirements": sorted(r.strip() for r in requirements), "python": python,
               "version": sys.version, "inherit": parent_site_dirs()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def env_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def ensure_env(requirements: list[str], envs_dir: Path, python: str = sys.executable,
               log: Path | None = None) -> Path:
    """The venv folder for ``requirements``, created (once) if needed."""
    envs_dir = Path(envs_dir)
    envs_dir.mkdir(parents=True, exist_ok=True)
    key = env_key(requirements, python)
    env_dir = envs_dir / key
    ready = env_dir / ".scanflow-ready"
    if ready.is_file():
        return env_dir
    # _LOCK: threads of this process; FileLock: other Scanflow processes creating the same env
    with _LOCK, FileLock(envs_dir / f"{key}.lock"):
        if ready.is_file():
            return env_dir
        if env_dir.exists():
            shutil.rmtree(env_dir)  # left half-made by a crash
        _run([python, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)], log)
        purelib = subprocess.run(
            [str(env_python(env_dir)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True).stdout.strip()
        # `import` lines of a .pth run at start-up; addsitedir also processes the parent's own
        # .pth files (editable installs, namespace packages), which a plain path line would not.
        lines = [f"import site; site.addsitedir({d!r})" for d in parent_site_dirs()]
        Path(purelib, "_scanflow_inherit.pth").write_text("\n".join(lines) + "\n")
        if requirements:
            _run([str(env_python(env_dir)), "-m", "pip", "install", "--disable-pip-version-check",
                  "--no-input", *requirements], log)
        ready.write_text(json.dumps({"requirements": requirements, "python": python}))
    return env_dir


def _run(cmd: list[str], log: Path | None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise EnvCreationError(f"`{' '.join(cmd[:4])} ...` failed with code {proc.returncode}:\n{tail}")
