"""The prediction log: arrays and table rows kept without pickle, read back as they were logged.

Every test runs on a SQLite file and on PostgreSQL (``store_url``, see tests/_postgres.py).
"""

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scanflow.track import PredictionLog
from scanflow.track.predictions import default_url

pytest_plugins = ["_postgres"]


@pytest.fixture
def log(store_url):
    return PredictionLog(store_url)


def test_the_default_is_the_state_database_file(tmp_path):
    assert default_url(tmp_path / "s") == f"sqlite:///{tmp_path / 's' / 'scanflow.db'}"


def test_a_bad_url_names_the_fix():
    with pytest.raises(ValueError, match="use 'sqlite:///path/to/scanflow.db'"):
        PredictionLog("scanflow.db")


def test_arrays_are_kept_per_sample_and_stacked_back_in_the_order_asked(log):
    X = np.arange(3 * 4, dtype=np.float32).reshape(3, 2, 2)
    ids = log.record_predictions("api", X, [0, 1, 2], model="clf", model_version=4,
                                 confidences=[0.5, 0.6, 0.7], is_outlier=[False, True, False])
    assert ids == [1, 2, 3]
    rows = log.predictions_since(1)
    assert [(r.id, r.prediction, r.model_version, r.is_outlier) for r in rows] == [
        (2, 1, "4", True), (3, 2, "4", False)]
    np.testing.assert_array_equal(log.prediction_inputs([3, 1]), X[[2, 0]])
    assert log.last_prediction_id() == 3


def test_table_rows_come_back_as_a_dataframe_with_their_column_order(log):
    X = pd.DataFrame({"zeta": [1.5, 2.5], "alpha": [3, 4], "od280/od315": [0.1, 0.2]})
    ids = log.record_predictions("wine", X, ["red", "white"], confidences=[0.9, None])
    back = log.prediction_inputs(ids[::-1])
    assert list(back.columns) == ["zeta", "alpha", "od280/od315"]
    pd.testing.assert_frame_equal(back, X.iloc[::-1].reset_index(drop=True), check_dtype=False)
    rows = log.predictions_between(ids[0], ids[1])
    assert [(r.prediction, r.confidence) for r in rows] == [("red", 0.9), ("white", None)]


def test_records_can_be_given_as_dicts_and_missing_values_stay_missing(log):
    ids = log.record_predictions("wine", [{"a": 1.0, "b": float("nan")}, {"a": None, "b": 2}], [0, 1])
    back = log.prediction_inputs(ids)
    assert back["a"].tolist()[0] == 1.0 and np.isnan(back["a"].tolist()[1])
    assert np.isnan(back["b"].tolist()[0]) and back["b"].tolist()[1] == 2


def test_asking_for_table_rows_and_arrays_at_once_is_refused(log):
    [a] = log.record_predictions("img", np.zeros((1, 2, 2)), [0])
    [b] = log.record_predictions("wine", pd.DataFrame({"x": [1.0]}), [0])
    with pytest.raises(ValueError, match="mix table rows and arrays"):
        log.prediction_inputs([a, b])


def test_predictions_logged_without_inputs_say_so(log):
    ids = log.record_predictions("api", None, [1, 2])
    with pytest.raises(KeyError, match="must pass `inputs`"):
        log.prediction_inputs(ids)


def test_nothing_that_needs_pickle_is_accepted(log):
    with pytest.raises(TypeError, match="would need pickle"):
        log.record_predictions("api", np.array([object(), object()], dtype=object), [1, 2])


def test_lengths_must_agree(log):
    with pytest.raises(ValueError, match="inputs has 2 rows but predictions has 3"):
        log.record_predictions("api", pd.DataFrame({"x": [1, 2]}), [0, 1, 2])
    with pytest.raises(ValueError, match="confidences has 1 values but predictions has 2"):
        log.record_predictions("api", None, [0, 1], confidences=[0.5])


def test_prediction_window_by_count_and_by_time(log):
    log.record_predictions("api", None, [0] * 3, created_at=100.0)
    log.record_predictions("api", None, [0] * 2, created_at=200.0)
    assert [r.id for r in log.prediction_window(5, size=2)] == [4, 5]
    assert [r.id for r in log.prediction_window(5, seconds=50)] == [4, 5]
    assert [r.id for r in log.prediction_window(3, seconds=500)] == [1, 2, 3]
    assert [r.id for r in log.predictions_since(0, service="api", limit=2)] == [1, 2]


def test_a_table_made_by_an_older_scanflow_gains_the_record_column(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.MetaData()
    sa.Table("scanflow_predictions", old,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("service", sa.String(128), nullable=False),
             sa.Column("model", sa.String(256)), sa.Column("model_version", sa.String(64)),
             sa.Column("created_at", sa.Float, nullable=False), sa.Column("inputs", sa.LargeBinary),
             sa.Column("prediction", sa.JSON), sa.Column("confidence", sa.Float),
             sa.Column("outlier_score", sa.Float), sa.Column("is_outlier", sa.Boolean))
    engine = sa.create_engine(url)
    old.create_all(engine)
    engine.dispose()
    log = PredictionLog(url)
    [i] = log.record_predictions("wine", pd.DataFrame({"alcohol": [13.2]}), [1])
    assert log.prediction_inputs([i])["alcohol"].tolist() == [13.2]
