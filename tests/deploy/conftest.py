import textwrap

import pytest

from scanflow.app import load_app

APP_YAML = textwrap.dedent("""
    name: shop-ml
    tracker: {experiment: shop}
    workflows:
      - name: training
        max_parallel: 2
        nodes:
          - name: load
            script: steps/load.py
            parameters: {limit: 500, fast: true}
            env: {DATA_URL: "s3://bucket/data", DB_PASSWORD: hunter2}
            requirements: [numpy>=1.26, "pandas==2.2.2"]
          - name: stats
            module: steps.stats
            depends_on: [load]
            resources: {cpu: 500m, memory: 256Mi}
          - name: train
            callable: "steps.train:fit"
            parameters: {epochs: 2}
            depends_on: [load]
            resources: {cpu: 2, memory: 2Gi, gpu: 1}
            retries: 2
            retry_backoff: 3
            timeout: 600
          - {name: evaluation, workflow: evaluation, depends_on: [train]}
          - name: report
            script: report.sh
            image: "alpine/custom:3.20"
            depends_on: [evaluation, stats]
      - name: evaluation
        nodes:
          - {name: evaluate, script: steps/evaluate.py, dockerfile: docker/Evaluate.Dockerfile, env: {SPLIT: test}}
          - {name: score, script: steps/score.py, depends_on: evaluate}
      - name: monitoring
        depends_on: training
        nodes:
          - {name: check, script: steps/check.py}
    services:
      - name: api
        script: serve.py
        port: 8000
        replicas: 2
        resources: {cpu: 1, memory: 512Mi}
        env: {API_TOKEN: secret-token, LOG_LEVEL: info}
        depends_on: [training]
    agents:
      - {name: checker, kind: checker, supervises: [training, api], talks_to: [planner], port: 9000}
      - {name: planner, kind: planner, supervises: [evaluation], env: {PLANNER_MODE: auto}}
""")

FILES = ["steps/load.py", "steps/stats.py", "steps/train.py", "steps/evaluate.py", "steps/score.py",
         "steps/check.py", "steps/__init__.py", "report.sh", "serve.py"]


@pytest.fixture
def app_dir(tmp_path):
    root = tmp_path / "app"
    (root / "steps").mkdir(parents=True)
    (root / "docker").mkdir()
    (root / "scanflow.yaml").write_text(APP_YAML)
    for name in FILES:
        (root / name).write_text("print('ok')\n")
    (root / "docker" / "Evaluate.Dockerfile").write_text("FROM python:3.11.11-slim-bookworm\nCOPY . /app\n")
    return root


@pytest.fixture
def app(app_dir):
    return load_app(app_dir)


def _prune(x):
    """Drop empty values: the client models leave unset fields out when serialising."""
    if isinstance(x, dict):
        return {k: _prune(v) for k, v in x.items() if v not in (None, [], {})}
    if isinstance(x, list):
        return [_prune(v) for v in x]
    return x


K8S_MODELS = {"Namespace": "V1Namespace", "ConfigMap": "V1ConfigMap", "Secret": "V1Secret",
              "PersistentVolumeClaim": "V1PersistentVolumeClaim", "Deployment": "V1Deployment",
              "Service": "V1Service"}


@pytest.fixture
def k8s_model():
    """Deserialise an object into the official kubernetes client model and check that nothing
    was dropped on the way (the client silently ignores unknown fields)."""
    import json

    from kubernetes.client import ApiClient

    api = ApiClient()

    def check(obj):
        model = api.deserialize(json.dumps(obj), K8S_MODELS[obj["kind"]], "application/json")
        assert _prune(api.sanitize_for_serialization(model)) == _prune(obj), f"unknown or mistyped fields in {obj['kind']}"
        return model

    return check


@pytest.fixture
def argo_model():
    """Validate an Argo Workflow with hera's generated models; unknown fields fail the round trip."""
    from hera.workflows.models import Workflow

    def check(obj):
        model = Workflow.model_validate(obj)
        assert _prune(model.model_dump(by_alias=True, exclude_none=True, mode="json")) == _prune(obj)
        return model

    return check
