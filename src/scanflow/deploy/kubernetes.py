"""Kubernetes export: Argo Workflows for the batch workflows, Deployments and Services for the
services and agents, the MLflow tracker on a PersistentVolumeClaim, a ConfigMap, a Secret and
a Namespace.

Each top-level workflow becomes one Argo ``Workflow`` whose entry template is a DAG; a nested
workflow is a DAG template of its own, called from its parent's DAG, so the nesting seen in
``scanflow graph`` is kept. Every executor is a container template with its resources, a
``retryStrategy`` (``retries``, doubling back-off) and ``activeDeadlineSeconds`` (``timeout``).

Settings shared by all containers (``MLFLOW_TRACKING_URI``...) live in the ConfigMap; variables
whose name looks secret (``*PASSWORD*``, ``*TOKEN*``, ``*SECRET*``, ``*API_KEY*``...) go to the
Secret and are referenced with ``secretKeyRef``: replace their values before applying.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from scanflow._version import __version__
from scanflow.app import Application, SubWorkflow, Workflow
from scanflow.app.plan import top_level_workflows

from .containers import TRACKER_PORT, Container, Deployment, build_deployment
from .dockerfile import USER_ID, write_dockerfiles
from .exporter import Exporter, register_exporter
from .naming import dns_label

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL",
                         re.IGNORECASE)
COMMON_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "SCANFLOW_APP")
DATA_CLAIM = "data"
TRACKER_CLAIM = "tracker-data"


def is_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def _serving_rollout(pod: dict[str, Any], spec: dict[str, Any], c: Container) -> None:
    """A service takes traffic once it listens (Uvicorn binds after the model is loaded), and a
    rollout of replicas never drops below the replicas asked for."""
    if c.port:
        pod["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": c.port}, "periodSeconds": 5}
    if c.replicas > 1:
        spec["strategy"] = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


@register_exporter
class KubernetesExporter(Exporter):
    """Write Kubernetes manifests and Argo Workflows for an application.

    >>> from scanflow.app import Application, Workflow, Executor
    >>> app = Application(name="demo", workflows=[Workflow(name="w", nodes=[
    ...     Executor(name="a", script="a.py", retries=2),
    ...     Executor(name="b", script="b.py", depends_on="a")])])
    >>> wf = KubernetesExporter().argo_workflows(build_deployment(app))[0]
    >>> [(t["name"], t.get("dependencies")) for t in wf["spec"]["templates"][0]["dag"]["tasks"]]
    [('a', None), ('b', ['a'])]
    """

    target = "kubernetes"

    def __init__(self, registry: str | None = None, tag: str = "latest", namespace: str | None = None,
                 base_image: str | None = None, tracker_image: str | None = None,
                 storage_class: str | None = None, tracker_storage: str = "10Gi",
                 data_storage: str = "20Gi", image_pull_policy: str = "IfNotPresent"):
        super().__init__(registry=registry, tag=tag, base_image=base_image, tracker_image=tracker_image)
        self.namespace = namespace
        self.storage_class = storage_class
        self.tracker_storage = tracker_storage
        self.data_storage = data_storage
        self.image_pull_policy = image_pull_policy

    # -- building blocks ------------------------------------------------------------------------

    def deployment(self, app: Application) -> Deployment:
        return build_deployment(app, registry=self.registry, tag=self.tag,
                                tracker_image=self.tracker_image, namespace=self.namespace)

    def _meta(self, dep: Deployment, name: str, c: Container | None = None, **extra: Any) -> dict[str, Any]:
        labels = {"app.kubernetes.io/part-of": dns_label(dep.app.name),
                  "app.kubernetes.io/managed-by": "scanflow"}
        if c is not None:
            labels["app.kubernetes.io/name"] = c.name
            labels["app.kubernetes.io/component"] = c.kind
        return {"name": name, "namespace": dep.namespace, "labels": labels, **extra}

    def _env(self, c: Container) -> list[dict[str, Any]]:
        env = []
        for key, value in c.env.items():
            if key in COMMON_ENV and value == self._common[key]:
                continue  # comes from the ConfigMap
            if is_secret(key):
                env.append({"name": key, "valueFrom": {"secretKeyRef": {
                    "name": self._secret_name, "key": f"{c.name}.{key}"}}})
            else:
                env.append({"name": key, "value": value})
        return env

    def container(self, c: Container) -> dict[str, Any]:
        """A ``V1Container`` (as data) for one container."""
        spec: dict[str, Any] = {"name": "main", "image": c.image, "imagePullPolicy": self.image_pull_policy}
        if c.command:
            spec["command"] = list(c.command)
        spec["args"] = list(c.args)
        spec["workingDir"] = c.workdir
        spec["env"] = self._env(c)
        spec["envFrom"] = [{"configMapRef": {"name": self._config_name}}]
        resources = self.resources(c)
        if resources:
            spec["resources"] = resources
        if c.port:
            spec["ports"] = [{"name": "http", "containerPort": c.port}]
        mounts = {"data": DATA_CLAIM, "mlflow": TRACKER_CLAIM}
        if c.volumes:
            spec["volumeMounts"] = [{"name": mounts[v], "mountPath": p} for v, p in c.volumes.items()]
        if c.build and not c.dockerfile:  # our images run as a fixed non-root user
            spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": USER_ID, "runAsGroup": USER_ID,
                                       "allowPrivilegeEscalation": False}
        return spec

    @staticmethod
    def resources(c: Container) -> dict[str, Any]:
        requests: dict[str, str] = {}
        limits: dict[str, str] = {}
        if c.cpu_text is not None:
            requests["cpu"] = limits["cpu"] = c.cpu_text
        if c.memory_text is not None:
            requests["memory"] = limits["memory"] = c.memory_text
        if c.gpu:
            limits["nvidia.com/gpu"] = str(c.gpu)
        out: dict[str, Any] = {}
        if requests:
            out["requests"] = requests
        if limits:
            out["limits"] = limits
        return out

    def _volumes(self, c: Container) -> list[dict[str, Any]]:
        claims = {"data": DATA_CLAIM, "mlflow": TRACKER_CLAIM}
        return [{"name": claims[v], "persistentVolumeClaim": {"claimName": claims[v]}} for v in c.volumes]

    def _prepare(self, dep: Deployment) -> None:
        self._config_name = f"{dns_label(dep.app.name)}-config"
        self._secret_name = f"{dns_label(dep.app.name)}-secrets"
        self._common = {"MLFLOW_TRACKING_URI": dep.tracking_uri,
                        "MLFLOW_EXPERIMENT_NAME": dep.app.tracker.experiment or dep.app.name,
                        "SCANFLOW_APP": dep.app.name}

    # -- objects --------------------------------------------------------------------------------

    def _claim(self, dep: Deployment, name: str, size: str, mode: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"accessModes": [mode], "resources": {"requests": {"storage": size}}}
        if self.storage_class:
            spec["storageClassName"] = self.storage_class
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": self._meta(dep, name), "spec": spec}

    def _deployment(self, dep: Deployment, c: Container) -> dict[str, Any]:
        selector = {"app.kubernetes.io/part-of": dns_label(dep.app.name), "app.kubernetes.io/name": c.name}
        pod: dict[str, Any] = {"containers": [self.container(c)]}
        if c.volumes:
            pod["volumes"] = self._volumes(c)
            pod["securityContext"] = {"fsGroup": USER_ID}
        if c.kind == "tracker":
            pod["containers"][0]["readinessProbe"] = {
                "httpGet": {"path": "/health", "port": TRACKER_PORT}, "periodSeconds": 10}
        spec: dict[str, Any] = {
            "replicas": c.replicas, "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": self._meta(dep, c.name, c)["labels"]}, "spec": pod},
        }
        if c.kind == "tracker":
            spec["strategy"] = {"type": "Recreate"}  # one writer on a ReadWriteOnce volume
        if c.kind == "service":
            _serving_rollout(pod, spec, c)
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self._meta(dep, c.name, c), "spec": spec}

    def _service(self, dep: Deployment, c: Container) -> dict[str, Any]:
        selector = {"app.kubernetes.io/part-of": dns_label(dep.app.name), "app.kubernetes.io/name": c.name}
        return {"apiVersion": "v1", "kind": "Service", "metadata": self._meta(dep, c.name, c),
                "spec": {"type": "ClusterIP", "selector": selector,
                         "ports": [{"name": "http", "port": c.port, "targetPort": c.port}]}}

    def objects(self, dep: Deployment) -> dict[str, list[dict[str, Any]]]:
        """Kubernetes objects by file name (without the Argo Workflows)."""
        self._prepare(dep)
        files: dict[str, list[dict[str, Any]]] = {}
        files["namespace.yaml"] = [{"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": dep.namespace, "labels": self._meta(dep, "")["labels"]}}]
        secrets = {f"{c.name}.{k}": v for c in dep.containers for k, v in c.env.items() if is_secret(k)}
        config = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._meta(dep, self._config_name),
                   "data": dict(self._common)}]
        config.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": self._meta(dep, self._secret_name,
                                              annotations={"scanflow.io/note": "replace these values before applying"}),
                       "stringData": secrets})
        files["config.yaml"] = config
        files["storage.yaml"] = [self._claim(dep, DATA_CLAIM, self.data_storage, "ReadWriteMany")]
        if dep.tracker is not None:
            files["tracker.yaml"] = [self._claim(dep, TRACKER_CLAIM, self.tracker_storage, "ReadWriteOnce"),
                                     self._deployment(dep, dep.tracker), self._service(dep, dep.tracker)]
        for kind, items in (("services", dep.services), ("agents", dep.agents)):
            objs = []
            for container in items:
                objs.append(self._deployment(dep, container))
                if container.port:
                    objs.append(self._service(dep, container))
            if objs:
                files[f"{kind}.yaml"] = objs
        return files

    def argo_workflows(self, dep: Deployment) -> list[dict[str, Any]]:
        """One Argo ``Workflow`` per top-level workflow of the application."""
        self._prepare(dep)
        by_ref = {c.ref: c for c in dep.nodes}
        out = []
        app = dep.app
        for name in top_level_workflows(app):
            wf = app.workflow(name)
            templates: list[dict[str, Any]] = []
            entry = self._dag(app, wf, name, by_ref, templates)
            meta = self._meta(dep, "")
            del meta["name"]
            meta["generateName"] = f"{dns_label(name)}-"
            if wf.depends_on:
                meta["annotations"] = {"scanflow.io/run-after": ",".join(wf.depends_on)}
            spec: dict[str, Any] = {
                "entrypoint": entry, "templates": templates,
                "volumes": [{"name": DATA_CLAIM, "persistentVolumeClaim": {"claimName": DATA_CLAIM}}],
                "securityContext": {"fsGroup": USER_ID},
            }
            if wf.max_parallel:
                spec["parallelism"] = wf.max_parallel
            out.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": meta, "spec": spec})
        return out

    def _dag(self, app: Application, wf: Workflow, prefix: str, by_ref: dict[str, Container],
             templates: list[dict[str, Any]]) -> str:
        template_name = dns_label(prefix)
        index = len(templates)
        templates.append({})  # keep the DAG before the templates it calls
        tasks = []
        for node in wf.nodes:
            ref = f"{prefix}/{node.name}"
            if isinstance(node, SubWorkflow):
                called = self._dag(app, app.workflow(node.workflow), ref, by_ref, templates)
            else:
                called = self._container_template(by_ref[ref], templates)
            task: dict[str, Any] = {"name": dns_label(node.name), "template": called}
            if node.depends_on:
                task["dependencies"] = [dns_label(up) for up in node.depends_on]
            tasks.append(task)
        dag: dict[str, Any] = {"tasks": tasks}
        templates[index] = {"name": template_name, "dag": dag}
        if wf.max_parallel:
            templates[index]["parallelism"] = wf.max_parallel
        return template_name

    def _container_template(self, c: Container, templates: list[dict[str, Any]]) -> str:
        template: dict[str, Any] = {"name": c.name, "metadata": {"labels": {"scanflow.io/node": c.name}},
                                    "container": self.container(c)}
        if c.retries:
            template["retryStrategy"] = {"limit": str(c.retries), "retryPolicy": "OnFailure",
                                         "backoff": {"duration": f"{c.retry_backoff:g}s", "factor": "2"}}
        if c.timeout:
            template["activeDeadlineSeconds"] = str(int(c.timeout + 0.999))
        templates.append(template)
        return c.name

    # -- files ----------------------------------------------------------------------------------

    def export(self, app: Application, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the manifests into ``out_dir``; returns ``{file or container name: path}``."""
        dep = self.deployment(app)  # bad input is refused before anything is written
        out = self.output_folder(out_dir)
        written: dict[str, Path] = {}
        header = f"# Generated by scanflow {__version__} from application {app.name!r}.\n"
        for filename, objs in self.objects(dep).items():
            path = out / filename
            path.write_text(header + yaml.safe_dump_all(objs, sort_keys=False, width=120))
            written[filename] = path
        (out / "workflows").mkdir(exist_ok=True)
        for wf in self.argo_workflows(dep):
            path = out / "workflows" / f"{wf['metadata']['generateName'].rstrip('-')}.yaml"
            path.write_text(header + "# Submit with: argo submit -n " + dep.namespace + f" {path.name}"
                            " (or kubectl create -f)\n" + yaml.safe_dump(wf, sort_keys=False, width=120))
            written[f"workflows/{path.name}"] = path
        kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                         "namespace": dep.namespace, "resources": [f for f in written if "/" not in f]}
        path = out / "kustomization.yaml"
        path.write_text(header + "# Apply with: kubectl apply -k .  (then submit workflows/*.yaml to Argo)\n"
                        + yaml.safe_dump(kustomization, sort_keys=False))
        written["kustomization.yaml"] = path
        written.update(write_dockerfiles(dep, out / "dockerfiles", self.dockerfile_base))
        return written


__all__ = ["KubernetesExporter", "is_secret"]
