"""What the Kubernetes export says; that every object it writes is a valid Kubernetes or Argo
object is checked for every exporter in test_exporter_suite.py."""

import yaml

from scanflow.deploy import KubernetesExporter


def load(files):
    objs = []
    for name, path in files.items():
        if str(path).endswith(".yaml") and name != "kustomization.yaml":
            objs += [o for o in yaml.safe_load_all(path.read_text()) if o]
    return objs


def test_a_workflow_per_top_level_workflow_and_the_objects_around_them(app, tmp_path):
    kinds = sorted(o["kind"] for o in load(KubernetesExporter().export(app, tmp_path)))
    assert kinds.count("Workflow") == 2  # training and monitoring; evaluation is nested
    assert {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"} <= set(kinds)


def test_objects_live_in_the_application_namespace(app, tmp_path):
    objs = load(KubernetesExporter(namespace="ml-prod").export(app, tmp_path))
    ns = [o for o in objs if o["kind"] == "Namespace"]
    assert ns[0]["metadata"]["name"] == "ml-prod"
    assert all(o["metadata"]["namespace"] == "ml-prod" for o in objs if o["kind"] != "Namespace")


def test_argo_dag_keeps_nesting_dependencies_retries_and_resources(app, tmp_path, argo_model):
    exporter = KubernetesExporter()
    wf = argo_model(exporter.argo_workflows(exporter.deployment(app))[0])
    templates = {t.name: t for t in wf.spec.templates}
    assert wf.spec.entrypoint == "training"
    tasks = {t.name: t for t in templates["training"].dag.tasks}
    assert tasks["report"].dependencies == ["evaluation", "stats"]
    assert tasks["evaluation"].template == "training-evaluation"
    assert [t.name for t in templates["training-evaluation"].dag.tasks] == ["evaluate", "score"]
    assert templates["training"].parallelism == 2
    train = templates["training-train"]
    assert train.retry_strategy.limit.root == "2"
    assert train.retry_strategy.retry_policy == "OnFailure"
    assert train.retry_strategy.backoff.duration == "3s"
    assert train.active_deadline_seconds.root == "600"
    res = train.container.resources
    assert res.requests["cpu"].root == "2" and res.requests["memory"].root == "2Gi"
    assert res.limits["nvidia.com/gpu"].root == "1"


def test_services_and_agents_are_deployments_with_services(app, tmp_path, k8s_model):
    objs = load(KubernetesExporter().export(app, tmp_path))
    deployments = {o["metadata"]["name"]: k8s_model(o) for o in objs if o["kind"] == "Deployment"}
    services = {o["metadata"]["name"]: k8s_model(o) for o in objs if o["kind"] == "Service"}
    assert set(deployments) == {"tracker", "api", "agent-checker", "agent-planner"}
    assert set(services) == {"tracker", "api", "agent-checker"}  # the planner has no port
    assert deployments["api"].spec.replicas == 2
    assert services["api"].spec.ports[0].port == 8000
    assert services["api"].spec.selector == deployments["api"].spec.selector.match_labels


def test_tracker_keeps_its_data_on_a_persistent_volume_claim(app, tmp_path, k8s_model):
    objs = load(KubernetesExporter(storage_class="fast", tracker_storage="5Gi").export(app, tmp_path))
    claim = k8s_model(next(o for o in objs if o["kind"] == "PersistentVolumeClaim" and o["metadata"]["name"] == "tracker-data"))
    assert claim.spec.storage_class_name == "fast" and claim.spec.resources.requests["storage"] == "5Gi"
    tracker = k8s_model(next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "tracker"))
    volume = tracker.spec.template.spec.volumes[0]
    assert volume.persistent_volume_claim.claim_name == "tracker-data"
    assert tracker.spec.strategy.type == "Recreate"


def test_secret_looking_variables_go_to_the_secret(app, tmp_path, k8s_model):
    objs = load(KubernetesExporter().export(app, tmp_path))
    secret = k8s_model(next(o for o in objs if o["kind"] == "Secret"))
    config = k8s_model(next(o for o in objs if o["kind"] == "ConfigMap"))
    assert secret.string_data == {"training-load.DB_PASSWORD": "hunter2", "api.API_TOKEN": "secret-token"}
    assert config.data["MLFLOW_TRACKING_URI"] == "http://tracker:5000"
    assert config.data["MLFLOW_EXPERIMENT_NAME"] == "shop"
    api = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "api")
    env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "api.API_TOKEN"
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "info"}


def test_a_replicated_service_rolls_out_without_dropping_below_its_replicas(app, tmp_path, k8s_model):
    objs = load(KubernetesExporter().export(app, tmp_path))
    api = k8s_model(next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"))
    service = k8s_model(next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "api"))
    assert api.spec.replicas == 2
    assert api.spec.strategy.type == "RollingUpdate"
    assert api.spec.strategy.rolling_update.max_unavailable == 0
    assert api.spec.template.spec.containers[0].readiness_probe.tcp_socket.port == 8000
    # one Service in front of every replica: its selector matches the pods' labels
    labels = api.spec.template.metadata.labels
    assert all(labels[k] == v for k, v in service.spec.selector.items())


def test_a_service_of_one_replica_keeps_the_default_rollout(app_dir, tmp_path, k8s_model):
    from scanflow.app import load_app

    text = (app_dir / "scanflow.yaml").read_text().replace("replicas: 2", "replicas: 1")
    (app_dir / "scanflow.yaml").write_text(text)
    objs = load(KubernetesExporter().export(load_app(app_dir), tmp_path / "out"))
    api = k8s_model(next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"))
    assert api.spec.replicas == 1 and api.spec.strategy is None
