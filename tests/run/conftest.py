"""Fixtures for the runner tests: small applications on disk, a ready MLflow SQLite store, and a
local Ray instance shared by the session."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from scanflow.app import load_app


@pytest.fixture
def make_app(tmp_path, mlflow_db_template):
    """``make_app(yaml, files={"a.py": "..."})`` -> a loaded Application in its own folder."""

    def make(spec: str, files: dict[str, str] | None = None, folder: str = "app", store: bool = True):
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        for name, text in (files or {}).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(textwrap.dedent(text))
        (root / "scanflow.yaml").write_text(textwrap.dedent(spec))
        if store:
            (root / ".scanflow").mkdir(exist_ok=True)
            shutil.copy(mlflow_db_template, root / ".scanflow" / "mlflow.db")
        return load_app(root)

    return make


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance for a test module: 2 CPUs, loopback, no dashboard. Stopped after the
    module, so that no later test (a simulated cluster, Ray Serve) finds this process attached
    to a Ray it did not start."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()
