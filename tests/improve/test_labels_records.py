"""The label store with table records, class names and images of any layout.

Every test runs on a SQLite file and on PostgreSQL through ``store_url`` (see tests/_postgres.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanflow.improve.labelers import OracleLabeler
from scanflow.improve.labels import LabelError, LabelStore, class_keys

pytest_plugins = ["_postgres"]

CLASSES = ["class_0", "class_1", "class_2"]


@pytest.fixture
def store(store_url):
    s = LabelStore(store_url)
    yield s
    s.close()


@pytest.fixture
def wine():
    """Wine-like rows: numbers, an integer, a text and a categorical column, a missing value."""
    return pd.DataFrame(
        {
            "alcohol": [13.2, 12.37, 14.1],
            "magnesium": [101, 88, 120],
            "cellar": ["north", "south", None],
            "grape": pd.Categorical(["merlot", "syrah", "merlot"]),
            "organic": [True, False, True],
            "hue": [1.04, np.nan, 0.86],
        }
    )


def test_records_round_trip_with_text_columns_and_string_classes(store_url, wine):
    s1 = LabelStore(store_url)
    ids = s1.enqueue(wine, batch="wine", classes=CLASSES, model_guess=["class_2", 0, None])
    s1.submit(ids[0], 1, "ana")
    s1.submit(ids[2], 2, "ana")
    s1.close()
    s2 = LabelStore(store_url)  # what another process reads back
    item = s2.get(ids[0])
    assert item.is_record and not item.is_image and item.dtype == "json"
    assert item.record == {
        "alcohol": 13.2,
        "magnesium": 101,
        "cellar": "north",
        "grape": "merlot",
        "organic": True,
        "hue": 1.04,
    }
    assert list(item.record) == list(wine.columns) == item.columns
    assert s2.get(ids[1]).record["hue"] is None  # NaN is stored as a missing value
    assert item.classes == CLASSES and item.model_guess == 2
    assert item.class_label() == "class_1" and item.class_label(item.model_guess) == "class_2"
    got_ids, X, y = s2.labeled("wine")
    assert got_ids.tolist() == [ids[0], ids[2]] and y.tolist() == [1, 2]
    assert list(X.columns) == list(wine.columns)
    assert X["cellar"][0] == "north" and X["cellar"].isna().tolist() == [False, True]
    assert X["grape"].tolist() == ["merlot"] * 2
    assert X["magnesium"].dtype.kind == "i" and X["organic"].tolist() == [True, True]
    assert s2.label_of(y, batch="wine").tolist() == ["class_1", "class_2"]
    assert s2.classes("wine") == CLASSES
    s2.close()


def test_records_from_dicts_keep_the_union_of_their_keys_in_order(store):
    ids = store.enqueue([{"b": "x", "a": 1}, {"a": 2, "c": 0.5}], batch="d")
    assert store.get(ids[0]).record == {"b": "x", "a": 1, "c": None}
    assert store.get(ids[1]).columns == ["b", "a", "c"]
    # Item.x: float64 when every value is a number (None → NaN), else an object array.
    np.testing.assert_array_equal(store.get(ids[1]).x, [np.nan, 2.0, 0.5])
    assert store.get(ids[0]).x.tolist() == ["x", 1, None]


def test_an_empty_labeled_record_batch_has_its_columns(store, wine):
    store.enqueue(wine, batch="wine")
    ids, X, y = store.labeled("wine")
    assert ids.size == 0 and y.size == 0 and list(X.columns) == list(wine.columns)


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        (pd.DataFrame({"when": pd.to_datetime(["2024-01-01"])}), "samples[0]['when']"),
        (pd.DataFrame({"x": [float("inf")]}), "samples[0]['x']"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "samples"),
        ([{"a": object()}], "samples[0]['a']"),
    ],
)
def test_records_refuse_values_json_cannot_hold_naming_the_cell(store, rows, field):
    with pytest.raises(LabelError) as err:
        store.enqueue(rows)
    assert err.value.field == field and err.value.fix
    assert store.progress()["total"] == 0


def test_classes_set_the_range_of_labels_and_guesses(store, wine):
    [iid, *_] = store.enqueue(wine, batch="wine", classes=CLASSES)
    with pytest.raises(LabelError) as err:
        store.submit(iid, 3, "ana")  # 3 classes here, whatever the store's n_classes
    assert err.value.field == "label" and "2=class_2" in err.value.fix
    with pytest.raises(LabelError) as err:
        store.enqueue(wine, batch="w2", classes=CLASSES, model_guess=["merlot", 0, 1])
    assert err.value.field == "model_guess[0]" and "label_index" in err.value.fix
    many = store.enqueue(np.zeros((1, 2)), batch="many", classes=[f"c{i}" for i in range(12)])
    assert store.submit(many[0], 11, "ana").class_label() == "c11"


@pytest.mark.parametrize(
    ("classes", "field"),
    [
        (["a", "a"], "classes"),
        (["only"], "classes"),
        (["a", None], "classes[1]"),
        ("ab", "classes"),
    ],
)
def test_bad_classes_are_refused_naming_the_field(store, classes, field):
    with pytest.raises(LabelError) as err:
        store.enqueue(np.zeros((1, 2)), classes=classes)
    assert err.value.field == field


def test_a_batch_keeps_one_list_of_classes(store, wine):
    store.enqueue(wine, batch="wine", classes=CLASSES)
    with pytest.raises(LabelError) as err:
        store.enqueue(wine, batch="wine", classes=["a", "b"])
    assert err.value.field == "classes" and "new batch" in err.value.fix
    store.enqueue(wine, batch="wine", classes=CLASSES)  # the same classes: fine
    store.enqueue(np.zeros((1, 2)), batch="digits")
    with pytest.raises(LabelError, match="different classes"):
        store.classes()
    assert store.classes("digits") is None and store.label_of([3], "digits").tolist() == [3]


def test_the_oracle_answers_records_from_true_class_names(store, wine):
    store.enqueue(wine, batch="wine", classes=CLASSES, meta=[{"index": i} for i in (2, 0, 1)])
    truth = np.array(["class_1", "class_2", "class_0"])
    assert OracleLabeler(truth).label_store(store, "wine") == 3
    _, X, y = store.labeled("wine")
    assert y.tolist() == [0, 1, 2] and X["alcohol"].tolist() == [13.2, 12.37, 14.1]
    with pytest.raises(LabelError) as err:
        store.enqueue(wine[:1], batch="w2", classes=CLASSES)
        OracleLabeler(np.array(["merlot"])).label_store(store, "w2")
    assert err.value.field == "y_true"


@pytest.mark.parametrize(
    ("shape", "dtype", "image_shape"),
    [
        ((2, 32, 32, 3), np.uint8, (32, 32, 3)),
        ((2, 3, 32, 32), np.float32, (32, 32, 3)),
        ((2, 1, 20, 30), np.uint8, (20, 30)),
        ((2, 64, 48), np.uint16, (64, 48)),
        ((2, 16, 16, 4), np.uint8, (16, 16, 4)),
    ],
)
def test_images_of_any_size_and_channels_keep_their_pixels(store, shape, dtype, image_shape):
    X = np.random.default_rng(0).integers(0, 200, size=shape).astype(dtype)
    ids = store.enqueue(X, batch="img")
    item = store.get(ids[1])
    assert item.is_image and item.image.shape == image_shape
    np.testing.assert_array_equal(item.x, X[1])
    assert item.x.dtype == dtype and not item.is_record
    _, got, _ = store.labeled("img")
    assert got.shape == (0, *shape[1:])


def test_class_keys_keep_digits_and_number_named_classes_from_one():
    assert class_keys([str(i) for i in range(10)]) == [str(i) for i in range(10)]
    assert class_keys(CLASSES) == ["1", "2", "3"]
    assert class_keys([f"c{i}" for i in range(11)])[8:] == ["9", "0", None]


# The tables as the store created them before records and classes existed (SQLite DDL).
_V1_SCHEMA = """
CREATE TABLE scanflow_label_items (
    id INTEGER NOT NULL, batch VARCHAR(200) NOT NULL, position INTEGER NOT NULL,
    status VARCHAR(16) NOT NULL, shape VARCHAR(100) NOT NULL, dtype VARCHAR(16) NOT NULL,
    data BLOB NOT NULL, meta TEXT NOT NULL, model_guess INTEGER, score FLOAT, label INTEGER,
    labeler VARCHAR(100), labeler_kind VARCHAR(16), labeled_at DATETIME,
    claimed_by VARCHAR(100), claimed_at DATETIME, lease_until DATETIME,
    created_at DATETIME NOT NULL, PRIMARY KEY (id));
CREATE TABLE scanflow_label_events (
    id INTEGER NOT NULL, item_id INTEGER NOT NULL, action VARCHAR(16) NOT NULL, label INTEGER,
    labeler VARCHAR(100) NOT NULL, labeler_kind VARCHAR(16) NOT NULL, undone BOOLEAN NOT NULL,
    at DATETIME NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(item_id) REFERENCES scanflow_label_items (id));
INSERT INTO scanflow_label_items (id, batch, position, status, shape, dtype, data, meta,
    model_guess, created_at)
    VALUES (1, 'old', 0, 'pending', '2,2', '|u1', x'00FF7F01', '{"index": 0}', 3,
    '2024-01-01 00:00:00');
"""


def test_a_database_written_before_records_existed_opens_and_takes_records(tmp_path, wine):
    import sqlite3

    path = tmp_path / "labels.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
    store = LabelStore(path)
    old = store.get(1)
    assert old.x.tolist() == [[0, 255], [127, 1]] and old.model_guess == 3
    assert old.classes is None and old.class_label(3) == 3
    ids = store.enqueue(wine, batch="wine", classes=CLASSES)
    store.submit(1, 9, "ana")
    store.submit(ids[0], 2, "ana")
    assert store.labeled("old")[2].tolist() == [9]
    assert store.label_of(store.labeled("wine")[2], "wine").tolist() == ["class_2"]
    store.close()
