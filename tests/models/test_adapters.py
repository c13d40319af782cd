"""One conformance suite for every model adapter: what the loop relies on, for each flavor.

Parametrised over a scikit-learn pipeline on a table, a torch MLP on the same table, a user's
torch CNN on 3-channel 32x32 images, and an MLflow pyfunc model: a new adapter is tested the
moment it is added to ``CASES``.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pytest

from scanflow.models import (
    InputSchema,
    ModelAdapter,
    SchemaError,
    UnsupportedOperation,
    as_model,
    load_model_folder,
)

CASES = ["sklearn-table", "torch-table", "torch-image", "pyfunc-table"]


@pytest.fixture(params=CASES)
def case(request, wine_data, wine_model, table_net, color_data, color_net, tmp_path_factory):
    """``(adapter, X, y, X_bad)`` for one kind of model."""
    X, y, Xt, yt = wine_data
    if request.param == "sklearn-table":
        return as_model(wine_model, schema=InputSchema.from_data(X)), Xt, yt, Xt.drop(columns=["hue"])
    if request.param == "torch-table":
        return as_model(table_net, schema=InputSchema.from_data(X), classes=[0, 1, 2]), Xt, yt, Xt.iloc[:, :5]
    if request.param == "torch-image":
        Xi, yi, Xit, yit = color_data
        return as_model(color_net, schema=InputSchema.from_data(Xi)), Xit, yit, np.zeros((3, 28, 28), np.uint8)
    folder = as_model(wine_model, schema=InputSchema.from_data(X)).save(
        tmp_path_factory.mktemp("pyfunc") / "m")
    return as_model(mlflow.pyfunc.load_model(str(folder))), Xt, yt, Xt.drop(columns=["hue"])


def test_predict_gives_one_known_class_per_sample(case):
    model, X, y, _ = case
    pred = model.predict(X)
    assert pred.shape == (len(X),)
    assert (pred == y).mean() > 0.6  # a real model, better than chance
    if model.classes_ is not None:
        assert set(np.asarray(pred).tolist()) <= set(np.asarray(model.classes_).tolist())


def test_probabilities_are_distributions_in_the_order_of_the_classes(case):
    model, X, _, _ = case
    model.predict(X[:2])  # a pyfunc model tells whether it gives probabilities when it answers
    if not model.has_proba:
        with pytest.raises(UnsupportedOperation):
            model.predict_proba(X)
        return
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(model.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(model.classes_)[proba.argmax(1)], model.predict(X))


def test_the_schema_is_known_and_bad_input_names_the_problem(case):
    model, X, _, X_bad = case
    model.predict(X[:2])
    assert model.schema is not None and model.kind in ("table", "image")
    with pytest.raises(SchemaError) as err:
        model.predict(X_bad)
    assert err.value.field and err.value.fix


def test_fit_more_returns_a_new_model_and_leaves_the_champion_alone(case):
    model, X, y, _ = case
    if not model.can_fit:
        with pytest.raises(UnsupportedOperation, match="retrain workflow"):
            model.fit_more(X, y)
        return
    before = model.predict_proba(X).copy()
    new = model.fit_more(X, y, seed=0, epochs=1)
    assert isinstance(new, ModelAdapter) and new.native is not model.native
    np.testing.assert_allclose(model.predict_proba(X), before)
    assert new.schema == model.schema


def test_saved_models_load_back_with_scanflow_and_with_stock_mlflow(case, tmp_path):
    model, X, _, _ = case
    if model.flavor == "python_function":
        with pytest.raises(UnsupportedOperation):
            model.save(tmp_path / "m")
        return
    folder = model.save(tmp_path / "m")
    again = load_model_folder(folder)
    assert type(again) is type(model) and again.schema == model.schema
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    stock = mlflow.pyfunc.load_model(str(folder))  # no MLFLOW_ALLOW_PICKLE_DESERIALIZATION needed
    assert stock.metadata.signature is not None
    np.testing.assert_array_equal(np.asarray(stock.predict(X)), model.predict(X))


def test_labels_map_to_class_positions_and_back(case):
    model, X, y, _ = case
    model.predict(X[:1])
    idx = model.label_index(y[:5])
    np.testing.assert_array_equal(model.label_of(idx), y[:5])
