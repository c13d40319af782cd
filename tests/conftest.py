"""Settings every test shares: no telemetry, few threads (2-core CI machines), isolated state."""

import os
import tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# hypothesis keeps run state (examples, constants) in ./.hypothesis: not in the checkout
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "scanflow-hypothesis"))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep SCANFLOW_HOME and MLflow URIs of the developer's shell out of tests."""
    monkeypatch.delenv("SCANFLOW_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)


@pytest.fixture(autouse=True)
def _idle_databases_closed():
    """After each test, close the pooled connections of the stores it opened (file descriptors)."""
    yield
    from scanflow.storage import dispose_databases

    dispose_databases()


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory):
    """An empty, fully migrated MLflow SQLite store, copied into each test (migrations take ~2 s)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_store(tmp_path, mlflow_db_template, monkeypatch):
    """``MLFLOW_TRACKING_URI`` on a fresh store, and a run in ``MLFLOW_RUN_ID`` (as in a node).

    Returns ``(client, run_id)``.
    """
    import shutil

    from mlflow import MlflowClient

    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_db_template, db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    return client, run.info.run_id


def pytest_collection_modifyitems(config, items):
    """Long fuzzing runs (marker ``fuzz``) only when asked for: ``pytest -m fuzz``."""
    if "fuzz" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="long fuzzing run: select it with `pytest -m fuzz`")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)
