"""Deploy an application: a Dockerfile per node, and Compose, Swarm and Kubernetes/Argo exports.

>>> from scanflow.app import Application, Workflow, Executor
>>> app = Application(name="demo", workflows=[Workflow(name="w", nodes=[
...     Executor(name="a", script="a.py")])])
>>> import tempfile
>>> files = export(app, "kubernetes", tempfile.mkdtemp())
>>> sorted(name for name in files if name.endswith(".yaml"))
['config.yaml', 'kustomization.yaml', 'namespace.yaml', 'storage.yaml', 'tracker.yaml', 'workflows/w.yaml']
"""

from __future__ import annotations

import os
from pathlib import Path

from scanflow.app import Application

from .compose import ComposeExporter, SwarmExporter
from .containers import BASE_IMAGE, Container, Deployment, build_deployment
from .dockerfile import dockerfile_for, write_dockerfiles
from .kubernetes import KubernetesExporter
from .schemas import ExportInvalid, validate_compose

EXPORTERS = {"compose": ComposeExporter, "swarm": SwarmExporter, "kubernetes": KubernetesExporter}


def export(app: Application, target: str, out_dir: str | os.PathLike[str], **settings) -> dict[str, Path]:
    """Write ``target`` (compose, swarm, kubernetes) files for ``app`` into ``out_dir``."""
    try:
        exporter = EXPORTERS[target]
    except KeyError:
        raise ValueError(f"unknown export target {target!r}: use one of {', '.join(EXPORTERS)}") from None
    return exporter(**settings).export(app, out_dir)


__all__ = [
    "BASE_IMAGE", "ComposeExporter", "Container", "Deployment", "EXPORTERS", "ExportInvalid",
    "KubernetesExporter", "SwarmExporter", "build_deployment", "dockerfile_for", "export",
    "validate_compose", "write_dockerfiles",
]
