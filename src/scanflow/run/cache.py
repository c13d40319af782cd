"""Content-addressed node cache: skip a node whose code, parameters, environment and inputs
are unchanged, and restore the outputs it declared.

The key of a node hashes: its id and declared outputs, its entry point and the content of its code file (the script, or
the source file of its module / callable), its args and parameters, its ``env``, its
requirements and isolation, the Python version, the content of its declared ``inputs``
(paths relative to the application folder) and, for each upstream node, that node's key and
the content of the outputs it declared. Only *declared* ``outputs`` (paths relative to
``$SCANFLOW_OUTPUT_DIR``) are stored and restored; a node that writes other files that
downstream nodes read should declare them, or set ``cache: false``.

Entries live in ``<state>/cache/<key[:2]>/<key>/`` (``entry.json`` and ``outputs/``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from scanflow.app.plan import script_path

from ..app import Application, Executor

CACHE_VERSION = 1
_SYS_PATH_LOCK = threading.Lock()


def hash_path(path: Path) -> str:
    """SHA-256 of a file, or of a folder's file names and contents; ``"missing"`` if absent."""
    digest = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    if path.is_dir():
        for sub in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(sub.relative_to(path)).encode() + b"\0")
            with open(sub, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
        return digest.hexdigest()
    return "missing"


def code_hash(app: Application, executor: Executor) -> str:
    """Hash of the file that holds the node's code (or of its name when it cannot be found)."""
    kind, value = executor.entrypoint
    if kind == "script":
        return hash_path(script_path(app, executor))
    module = value.partition(":")[0]
    origin = _module_origin(module, app.root)
    return hash_path(Path(origin)) if origin else f"name:{value}"


def _module_origin(module: str, root: Path) -> str | None:
    with _SYS_PATH_LOCK:
        added = str(root) not in sys.path
        if added:
            sys.path.insert(0, str(root))
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        finally:
            if added:
                sys.path.remove(str(root))
    return spec.origin if spec is not None and spec.origin not in (None, "built-in", "frozen") else None


def cache_key(app: Application, executor: Executor, requirements: list[str],
              upstream: dict[str, dict[str, Any]], node_id: str = "") -> str:
    """The node's key; ``upstream`` maps each upstream node id to ``{"key", "outputs"}``."""
    payload = {
        "version": CACHE_VERSION,
        "node": node_id,
        "outputs": sorted(executor.outputs),
        "entry": list(executor.entrypoint),
        "code": code_hash(app, executor),
        "args": executor.args,
        "parameters": executor.parameters,
        "env": executor.env,
        "requirements": sorted(requirements),
        "isolated": executor.isolated,
        "python": sys.version_info[:3],
        "inputs": {p: hash_path(app.root / p) for p in sorted(executor.inputs)},
        "upstream": {k: upstream[k] for k in sorted(upstream)},
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class NodeCache:
    """Stores and restores the declared outputs of finished nodes, by key."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key`` if it exists and all its outputs are stored, else ``None``."""
        entry_file = self._dir(key) / "entry.json"
        try:
            entry = json.loads(entry_file.read_text())
        except (OSError, ValueError):
            return None
        stored = self._dir(key) / "outputs"
        if not all((stored / out).exists() for out in entry.get("outputs", [])):
            return None
        return entry

    def restore(self, key: str, output_dir: Path) -> dict[str, str]:
        """Copy the stored outputs into ``output_dir``; return their hashes."""
        entry = self.lookup(key)
        if entry is None:
            raise KeyError(key)
        stored = self._dir(key) / "outputs"
        for out in entry.get("outputs", []):
            _copy(stored / out, output_dir / out)
        return dict(entry.get("output_hashes", {}))

    def store(self, key: str, output_dir: Path, outputs: list[str], meta: dict[str, Any]) -> None:
        """Save the outputs of a succeeded node (first writer wins)."""
        final = self._dir(key)
        if (final / "entry.json").exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=final.parent))
        try:
            hashes = {}
            for out in outputs:
                _copy(output_dir / out, tmp / "outputs" / out)
                hashes[out] = hash_path(output_dir / out)
            entry = {**meta, "key": key, "outputs": list(outputs), "output_hashes": hashes,
                     "created_at": time.time()}
            (tmp / "entry.json").write_text(json.dumps(entry, indent=2, default=str))
            try:
                os.rename(tmp, final)
            except OSError:  # another run stored the same key meanwhile
                pass
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
