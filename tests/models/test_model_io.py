"""Logging to MLflow runs and the registry, and loading back by alias, version or run."""

from __future__ import annotations

import numpy as np

from scanflow.models import InputSchema, as_model, load_model, log_model
from scanflow.track import get_alias_version, promote


def test_a_logged_model_is_registered_with_its_flavor_and_loads_by_alias(tracking_store, wine_data, wine_model):
    client, run_id = tracking_store
    X, _, Xt, _ = wine_data
    info = log_model(as_model(wine_model, schema=InputSchema.from_data(X)), "model",
                     registered_model_name="wine")
    assert info.version == 1 and info.uri == f"runs:/{run_id}/model"
    assert client.get_model_version("wine", "1").tags["scanflow.flavor"] == "sklearn"
    promote("wine", 1)
    assert get_alias_version("wine", "champion") == 1
    for loaded in (load_model("wine", alias="champion"), load_model("models:/wine/1"), load_model(info.uri)):
        np.testing.assert_array_equal(loaded.predict(Xt), wine_model.predict(Xt))
    assert client.get_run(run_id).info.status == "RUNNING"  # the node's run stays open


def test_a_model_logged_by_plain_mlflow_loads_as_its_native_flavor(tracking_store, wine_data):
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    X, y, Xt, _ = wine_data
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    _, run_id = tracking_store
    with mlflow.start_run(run_id=run_id):
        mlflow.sklearn.log_model(forest, name="m", signature=infer_signature(X, y),
                                 registered_model_name="plain",
                                 skops_trusted_types=["sklearn.tree._tree.Tree"])
    model = load_model("models:/plain/1", trusted_types=("sklearn.tree._tree.Tree",))
    assert model.flavor == "sklearn" and model.schema.names == list(X.columns)
    np.testing.assert_array_equal(model.predict(Xt), forest.predict(Xt))
    assert model.can_fit and model.has_proba


def test_a_torch_image_model_round_trips_through_the_registry(tracking_store, color_data, color_net):
    from scanflow.models import register_architecture
    from user_models import ColorNet

    register_architecture(ColorNet)
    X, _, Xt, _ = color_data
    info = log_model(color_net, "model", registered_model_name="shapes", input_example=X[:2])
    loaded = load_model("shapes", version=info.version)
    assert loaded.flavor == "scanflow_torch" and loaded.schema.sample_shape == (32, 32, 3)
    np.testing.assert_array_equal(loaded.predict(Xt), as_model(color_net).predict(Xt))
