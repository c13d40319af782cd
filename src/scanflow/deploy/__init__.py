"""Deploy an application: Dockerfiles, Docker Compose, Docker Swarm and Kubernetes/Argo exports.

Every target is an :class:`Exporter` (one method, ``export(app, out_dir) -> {what: path}``) in
one registry, :data:`EXPORTERS`; :func:`export` writes a target by name.

>>> from scanflow.app import Application, Workflow, Executor
>>> app = Application(name="demo", workflows=[Workflow(name="w", nodes=[
...     Executor(name="a", script="a.py")])])
>>> import tempfile
>>> files = export(app, "kubernetes", tempfile.mkdtemp())
>>> sorted(name for name in files if name.endswith(".yaml"))
['config.yaml', 'kustomization.yaml', 'namespace.yaml', 'storage.yaml', 'tracker.yaml', 'workflows/w.yaml']
"""

from __future__ import annotations

from .compose import ComposeExporter, SwarmExporter
from .containers import BASE_IMAGE, Container, Deployment, build_deployment
from .dockerfile import DockerfilesExporter, dockerfile_for, write_dockerfiles
from .exporter import EXPORTERS, Exporter, ExportError, export, get_exporter, register_exporter
from .kubernetes import KubernetesExporter
from .schemas import ExportInvalid, validate_compose

__all__ = [
    "BASE_IMAGE", "ComposeExporter", "Container", "Deployment", "DockerfilesExporter", "EXPORTERS",
    "ExportError", "ExportInvalid", "Exporter", "KubernetesExporter", "SwarmExporter",
    "build_deployment", "dockerfile_for", "export", "get_exporter", "register_exporter",
    "validate_compose", "write_dockerfiles",
]
