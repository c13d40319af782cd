"""InputSchema: what a model takes, from data and signatures, and the checks against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanflow.models import InputSchema, SchemaError, as_frame, as_images


def test_a_frame_gives_a_table_schema_with_named_typed_columns():
    s = InputSchema.from_data(pd.DataFrame({"a": [1.5], "n": [2], "c": ["x"], "b": [True]}))
    assert s.kind == "table"
    assert [(c.name, c.type) for c in s.columns] == [
        ("a", "double"), ("n", "long"), ("c", "string"), ("b", "boolean")]


@pytest.mark.parametrize(("shape", "layout", "sample"), [
    ((5, 28, 28), "HW", (28, 28)),
    ((5, 3, 32, 32), "CHW", (3, 32, 32)),
    ((5, 32, 32, 3), "HWC", (32, 32, 3)),
])
def test_image_layouts_are_recognised(shape, layout, sample):
    s = InputSchema.from_data(np.zeros(shape, np.uint8))
    assert (s.kind, s.layout, s.sample_shape) == ("image", layout, sample)


@pytest.mark.parametrize("X", [
    pd.DataFrame({"a": [1.0], "c": ["x"]}),
    np.zeros((2, 32, 32, 3), np.uint8),
    np.zeros((2, 1, 20, 24), np.float32),
])
def test_schema_round_trips_through_json_and_the_mlflow_signature(X):
    s = InputSchema.from_data(X)
    assert InputSchema.from_dict(s.to_dict()) == s
    back = InputSchema.from_signature(s.to_signature())
    assert (back.kind, back.sample_shape, back.names) == (s.kind, s.sample_shape, s.names)


def test_columns_are_matched_by_name_not_position():
    s = InputSchema.table(["a", "b"])
    out = as_frame(pd.DataFrame({"b": [1.0], "a": [2.0]}), s)
    assert out.columns.tolist() == ["a", "b"] and out["a"].tolist() == [2.0]


@pytest.mark.parametrize(("frame", "field", "text"), [
    (pd.DataFrame({"a": [1.0]}), "columns", "missing column 'b'"),
    (pd.DataFrame({"a": [1.0], "b": [2.0], "z": [0]}), "columns", "unexpected column 'z'"),
    (pd.DataFrame({"a": ["strong"], "b": [2.0]}), "a", "not a number"),
])
def test_a_bad_table_names_the_field_and_the_fix(frame, field, text):
    with pytest.raises(SchemaError, match=text) as err:
        as_frame(frame, InputSchema.table(["a", "b"]))
    assert err.value.field == field and err.value.fix


def test_records_become_a_frame():
    out = as_frame([{"b": 1, "a": 2}, {"a": 3, "b": 4}], InputSchema.table(["a", "b"]))
    assert out.to_numpy().tolist() == [[2, 1], [3, 4]]


def test_images_come_out_channels_first_in_unit_range_from_any_layout():
    s = InputSchema.image(32, 32, 3)
    hwc = np.full((2, 32, 32, 3), 255, np.uint8)
    assert as_images(hwc, s).shape == (2, 3, 32, 32) and as_images(hwc, s).max() == 1.0
    assert as_images(np.zeros((2, 3, 32, 32), np.float32), s).shape == (2, 3, 32, 32)
    with pytest.raises(SchemaError, match=r"\(32, 32, 3\)"):
        as_images(np.zeros((2, 28, 28), np.uint8), s)
