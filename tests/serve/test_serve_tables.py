"""Serving a scikit-learn pipeline on the wine table: JSON records in, labels and flags out.

The pipeline is registered with ``scanflow.models.log_model`` in a real MLflow store and served
by ``ServeStack`` (the same app as ``scanflow serve``) under a real Uvicorn server.
"""

import numpy as np
import pandas as pd
import pytest
from serve_helpers import application, http

from user_models import recalibrate, wine, wine_pipeline


@pytest.fixture(scope="module")
def data():
    return wine()


@pytest.fixture(scope="module")
def pipeline(data):
    X_train, y_train, _, _ = data
    return wine_pipeline(X_train, y_train)


@pytest.fixture(scope="module")
def version(registry, pipeline, data):
    from scanflow.models import InputSchema, as_model

    model = as_model(pipeline, schema=InputSchema.from_data(data[0]))
    version = registry.log(model, "wine")
    registry.promote("wine", version)
    return version


@pytest.fixture(scope="module")
def detector_file(data, tmp_path_factory):
    from scanflow.check import PCADetector

    path = tmp_path_factory.mktemp("detector") / "wine-detector.npz"
    return PCADetector().fit(data[0]).save(path)


@pytest.fixture
def stack(tracker, version, detector_file, tmp_path):
    from scanflow.serve.stack import ServeStack

    app = application(tmp_path, tracker, model="wine", detector=str(detector_file), drift_window=30)
    return ServeStack(app, poll_interval=0)


def _records(X: pd.DataFrame) -> list[dict]:
    return X.to_dict("records")


def test_one_record_is_answered_in_the_model_label_space(stack, pipeline, data):
    X_test = data[2]
    with http(stack.api) as client:
        r = client.post("/predict", json={"record": _records(X_test.iloc[:1])[0], "id": "w1",
                                          "check": "inline"})
    assert r.status_code == 200, r.text
    body = r.json()
    proba = pipeline.predict_proba(X_test.iloc[:1])[0]
    assert body["label"] == int(pipeline.predict(X_test.iloc[:1])[0])
    assert body["class_index"] == int(proba.argmax())
    assert body["probabilities"] == pytest.approx(proba.tolist(), abs=1e-5)
    assert body["confidence"] == pytest.approx(proba.max(), abs=1e-5)
    assert body["id"] == "w1" and body["model"]["name"] == "wine"
    assert body["outlier"]["threshold"] > 0


def test_a_batch_of_records_is_answered_in_order(stack, pipeline, data):
    X_test = data[2]
    with http(stack.api) as client:
        r = client.post("/predict/batch", json={"records": _records(X_test.iloc[:20])})
    assert r.status_code == 200, r.text
    labels = [p["label"] for p in r.json()["predictions"]]
    assert labels == pipeline.predict(X_test.iloc[:20]).tolist()


def test_fields_are_matched_by_name_not_position(stack, pipeline, data):
    X_test = data[2]
    shuffled = X_test.iloc[:5, ::-1]  # the same rows, columns in reverse order
    with http(stack.api) as client:
        r = client.post("/predict/batch", json={"records": _records(shuffled)})
    assert [p["label"] for p in r.json()["predictions"]] == pipeline.predict(X_test.iloc[:5]).tolist()


def test_a_missing_field_is_a_422_naming_the_row_and_the_column(stack, data):
    records = _records(data[2].iloc[:5])
    del records[3]["alcohol"]
    with http(stack.api) as client:
        r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "records", 3, "alcohol"]
    assert "missing field 'alcohol'" in err["msg"] and "send every column" in err["msg"]


def test_an_extra_field_is_a_422_naming_it(stack, data):
    record = {**_records(data[2].iloc[:1])[0], "color": 3.0}
    with http(stack.api) as client:
        r = client.post("/predict", json={"record": record})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "record", "color"]
    assert "unexpected field 'color'" in err["msg"] and "the model takes only" in err["msg"]


def test_a_mistyped_field_is_a_422_that_says_to_send_a_number(stack, data):
    records = _records(data[2].iloc[:3])
    records[1]["alcohol"] = "strong"
    with http(stack.api) as client:
        r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "records", 1, "alcohol"]
    assert "'strong'" in err["msg"] and "send a number for 'alcohol'" in err["msg"]


def test_images_sent_to_a_table_model_get_a_422_saying_what_it_takes(stack):
    with http(stack.api) as client:
        r = client.post("/predict", json={"image": [[0] * 8] * 8})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "image"]
    assert "takes a table of 13 columns" in err["msg"] and "'record'" in err["msg"]


def test_recalibrated_rows_are_flagged_far_more_often_than_clean_ones(stack, data):
    X_test = data[2]
    with http(stack.api) as client:
        clean = client.post("/predict/batch", json={"records": _records(X_test)}).json()
        shifted = client.post("/predict/batch", json={"records": _records(recalibrate(X_test))}).json()
    assert clean["n_outliers"] <= 0.2 * len(X_test)
    assert shifted["n_outliers"] >= 0.6 * len(X_test)


def test_drift_windows_run_on_the_named_columns(stack, data):
    X_test = data[2]
    with http(stack.api) as client:
        client.post("/predict/batch", json={"records": _records(X_test.iloc[:30])})
        client.post("/predict/batch", json={"records": _records(recalibrate(X_test.iloc[30:60]))})
        stack.prediction.drift.flush()
        windows = client.get("/drift").json()["windows"]
    assert [w["is_drift"] for w in windows] == [False, True]
    assert stack.prediction.drift.errors_ == []


def test_the_prediction_log_reads_back_rows_as_a_dataframe_with_the_column_names(stack, data):
    X_test = data[2]
    with http(stack.api) as client:
        body = client.post("/predict/batch", json={"records": _records(X_test.iloc[:4])}).json()
    ids = [p["prediction_id"] for p in body["predictions"]]
    rows = stack.predictions.predictions_between(ids[0], ids[-1])
    assert [r.prediction for r in rows] == [p["label"] for p in body["predictions"]]
    assert {(r.service, r.model) for r in rows} == {("predict", "wine")}
    X_back = stack.predictions.prediction_inputs(ids)
    assert list(X_back.columns) == list(X_test.columns)
    pd.testing.assert_frame_equal(X_back, X_test.iloc[:4].reset_index(drop=True), check_dtype=False)


def test_get_model_reports_the_flavor_and_the_columns_to_send(stack, data):
    with http(stack.api) as client:
        model = client.get("/model").json()["model"]
    assert model["flavor"] == "sklearn" and model["classes"] == [0, 1, 2]
    assert model["input"]["kind"] == "table"
    assert [c["name"] for c in model["input"]["columns"]] == list(data[0].columns)
    assert "'records'" in model["input"]["send"]


def test_openapi_documents_the_served_models_records(stack, data):
    import jsonschema

    with http(stack.api) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schemas["PredictRequest"]["properties"]) == {"record", "id"}
    assert set(schemas["BatchPredictRequest"]["properties"]) == {"records", "ids"}
    record = _records(data[2].iloc[:1])[0]
    validator = jsonschema.Draft202012Validator(schemas["PredictRequest"])
    assert validator.is_valid({"record": record})
    assert not validator.is_valid({"record": {**record, "colour": 1.0}})


def test_an_image_detector_for_a_table_model_is_an_error_naming_both(tracker, version, tmp_path):
    from scanflow.check import PCADetector
    from scanflow.serve.served_model import DetectorMismatch
    from scanflow.serve.stack import ServeStack

    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8)
    path = PCADetector().fit(images).save(tmp_path / "detector.npz")
    stack = ServeStack(application(tmp_path, tracker, model="wine", detector=str(path)), poll_interval=0)
    with pytest.raises(DetectorMismatch) as info:
        stack.prediction.load()
    message = str(info.value)
    assert "detector.npz was fitted on images 8x8" in message
    assert "the model 'wine' takes a table of 13 columns" in message
