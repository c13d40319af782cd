"""What the compose and swarm exports say; that every file they write is valid (the Compose
specification's schema) is checked for every exporter in test_exporter_suite.py."""

import shutil
import subprocess

import pytest
import yaml

from scanflow.deploy import ComposeExporter, ExportInvalid, SwarmExporter, validate_compose

needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")


@pytest.fixture
def compose(app, tmp_path):
    files = ComposeExporter().export(app, tmp_path / "compose")
    return files["compose"], yaml.safe_load(files["compose"].read_text())


@pytest.fixture
def stack(app, tmp_path):
    files = SwarmExporter(registry="registry.local:5000").export(app, tmp_path / "swarm")
    return files["swarm"], yaml.safe_load(files["swarm"].read_text())


@needs_compose
@pytest.mark.parametrize("which", ["compose", "stack"])
def test_docker_compose_accepts_the_exports(which, request):
    path, _ = request.getfixturevalue(which)
    proc = subprocess.run(["docker-compose", "-f", str(path), "config", "-q"], capture_output=True,
                          text=True, cwd=path.parent, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_compose_has_a_service_per_node_service_and_agent_and_a_tracker(compose, app):
    _, doc = compose
    assert set(doc["services"]) == {
        "tracker", "training-load", "training-stats", "training-train", "training-evaluation-evaluate",
        "training-evaluation-score", "training-report", "monitoring-check", "api", "agent-checker",
        "agent-planner"}
    tracker = doc["services"]["tracker"]
    assert "mlflow:/mlflow" in tracker["volumes"] and "mlflow" in doc["volumes"]
    assert tracker["ports"] == ["127.0.0.1:5000:5000"]
    for name, svc in doc["services"].items():
        assert svc["networks"] == ["scanflow"]
        if name != "tracker":
            assert svc["environment"]["MLFLOW_TRACKING_URI"] == "http://tracker:5000"
            assert svc["depends_on"]["tracker"] == {"condition": "service_healthy"}


def test_batch_nodes_wait_for_their_upstream_nodes_to_succeed(compose):
    _, doc = compose
    report = doc["services"]["training-report"]["depends_on"]
    assert report["training-evaluation-score"] == {"condition": "service_completed_successfully"}
    assert report["training-stats"] == {"condition": "service_completed_successfully"}
    # workflow-level depends_on: monitoring starts after training's last node
    assert "training-report" in doc["services"]["monitoring-check"]["depends_on"]


def test_resources_retries_timeout_and_gpu_are_translated(compose):
    _, doc = compose
    train = doc["services"]["training-train"]
    assert train["deploy"]["resources"]["limits"] == {"cpus": "2", "memory": "2048M"}
    assert train["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert train["restart"] == "on-failure:2"
    assert train["entrypoint"][:3] == ["timeout", "--kill-after=30s", "600s"]
    stats = doc["services"]["training-stats"]["deploy"]["resources"]["limits"]
    assert stats == {"cpus": "0.5", "memory": "256M"}
    assert doc["services"]["api"]["deploy"]["replicas"] == 2


def test_build_contexts_point_at_the_application_folder(compose, app):
    path, doc = compose
    build = doc["services"]["training-load"]["build"]
    context = (path.parent / build["context"]).resolve()
    assert context == app.root.resolve()
    assert (context / build["dockerfile"]).is_file()
    assert doc["services"]["training-evaluation-evaluate"]["build"]["dockerfile"] == "docker/Evaluate.Dockerfile"
    assert "build" not in doc["services"]["training-report"]
    assert doc["services"]["training-report"]["image"] == "alpine/custom:3.20"


def test_swarm_stack_has_replicas_placement_resources_and_no_build(stack):
    _, doc = stack
    services = doc["services"]
    assert all("build" not in s for s in services.values())
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["api"]["deploy"]["placement"]["preferences"] == [{"spread": "node.hostname"}]
    assert services["tracker"]["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    train = services["training-train"]["deploy"]
    assert train["placement"]["constraints"] == ["node.labels.scanflow.gpu == true"]
    assert train["restart_policy"] == {"condition": "on-failure", "delay": "3s", "max_attempts": 2}
    assert train["resources"]["reservations"]["generic_resources"][0]["discrete_resource_spec"] == {"kind": "gpu", "value": 1}
    assert services["training-load"]["image"] == "registry.local:5000/shop-ml-training-load:latest"
    assert doc["networks"]["scanflow"]["driver"] == "overlay"


def test_an_invalid_document_is_refused_before_it_is_written():
    with pytest.raises(ExportInvalid, match="services/x"):
        validate_compose({"services": {"x": {"image": "a", "restartt": "no"}}})


def test_a_remote_tracker_replaces_the_tracker_service(app, tmp_path):
    app.tracker.uri = "http://mlflow.internal:5000"
    doc = yaml.safe_load(ComposeExporter().export(app, tmp_path)["compose"].read_text())
    assert "tracker" not in doc["services"]
    assert doc["services"]["training-load"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow.internal:5000"
