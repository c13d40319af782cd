"""The labeling REST API and page, through FastAPI's TestClient."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from scanflow.improve.labels import LabelStore
from scanflow.security import InsecureBindError, check_bind
from scanflow.serve.labeling import create_labeling_app, create_labeling_router, png_bytes


@pytest.fixture
def images():
    return np.random.default_rng(1).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)


@pytest.fixture
def store(tmp_path, images):
    s = LabelStore(tmp_path / "labels.db")
    s.enqueue(images, batch="img", model_guess=[7, 1, 2, 3], meta=[{"index": i} for i in range(4)])
    s.enqueue(np.array([[1.5, 20.0]]), batch="tab", meta=[{"columns": ["age", "income"]}])
    yield s
    s.close()


@pytest.fixture
def client(store, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    return TestClient(create_labeling_app(store))


def _next(client, labeler="ana", **params):
    r = client.get("/api/next", params={"labeler": labeler, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_next_claims_a_sample_and_returns_it_again_until_answered(client):
    first = _next(client)
    assert first["item"]["kind"] == "image" and first["item"]["model_guess"] == 7
    assert first["item"]["image_url"] == f"/items/{first['item']['id']}/image.png"
    assert _next(client)["item"]["id"] == first["item"]["id"]
    assert _next(client, "bob")["item"]["id"] != first["item"]["id"]
    assert first["progress"]["in_progress"] == 1


def test_label_is_stored_with_its_labeler(client, store):
    item = _next(client)["item"]
    r = client.post(f"/api/items/{item['id']}/label", json={"label": 4, "labeler": "ana"})
    assert r.status_code == 200
    body = r.json()
    assert body["item"]["label"] == 4 and body["progress"]["labeled"] == 1
    assert body["progress"]["human"] == 1
    stored = store.get(item["id"])
    assert (stored.label, stored.labeler, stored.labeler_kind) == (4, "ana", "human")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"label": 10, "labeler": "ana"}, "label"),
        ({"label": -1, "labeler": "ana"}, "label"),
        ({"label": "three", "labeler": "ana"}, "label"),
        ({"label": 1}, "labeler"),
        ({"label": 1, "labeler": "oracle"}, "labeler"),
    ],
)
def test_bad_label_requests_get_a_4xx_naming_the_field(client, store, payload, field):
    item = _next(client)["item"]
    r = client.post(f"/api/items/{item['id']}/label", json=payload)
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == field
    assert store.get(item["id"]).status == "pending"


def test_unknown_id_is_404_and_someone_elses_sample_is_409(client):
    r = client.post("/api/items/999/label", json={"label": 1, "labeler": "ana"})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "item_id"
    item = _next(client, "ana")["item"]
    r = client.post(f"/api/items/{item['id']}/label", json={"label": 1, "labeler": "bob"})
    assert r.status_code == 409 and "held by 'ana'" in r.json()["detail"]["message"]
    client.post(f"/api/items/{item['id']}/label", json={"label": 1, "labeler": "ana"})
    r = client.post(f"/api/items/{item['id']}/label", json={"label": 2, "labeler": "bob"})
    assert r.status_code == 409 and "already labeled by 'ana'" in r.json()["detail"]["message"]


def test_skip_and_undo(client, store):
    a = _next(client)["item"]
    client.post(f"/api/items/{a['id']}/label", json={"label": 3, "labeler": "ana"})
    b = _next(client)["item"]
    r = client.post(f"/api/items/{b['id']}/skip", json={"labeler": "ana"})
    assert r.json()["item"]["status"] == "skipped" and r.json()["progress"]["skipped"] == 1
    r = client.post("/api/undo", json={"labeler": "ana"})
    assert r.json()["item"]["id"] == b["id"] and r.json()["item"]["status"] == "pending"
    assert _next(client)["item"]["id"] == b["id"]
    r = client.post("/api/undo", json={"labeler": "ana"})
    assert r.json()["item"]["id"] == a["id"] and store.get(a["id"]).label is None
    assert client.post("/api/undo", json={"labeler": "ana"}).json()["item"] is None


def test_progress_and_batches(client):
    assert client.get("/api/batches").json() == ["img", "tab"]
    assert client.get("/api/progress").json()["total"] == 5
    assert client.get("/api/progress", params={"batch": "tab"}).json()["pending"] == 1


def test_image_endpoint_serves_the_exact_pixels_as_png(client, images):
    r = client.get("/items/1/image.png")
    assert r.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content))), images[0])
    big = Image.open(io.BytesIO(client.get("/items/1/image.png?scale=4").content))
    assert big.size == (112, 112)
    assert client.get("/items/99/image.png").status_code == 404
    assert client.get("/items/5/image.png").json()["detail"]["field"] == "item_id"  # tabular


def test_png_writer_handles_rgb_and_floats():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(rgb)))), rgb)
    grey = np.asarray(Image.open(io.BytesIO(png_bytes(np.array([[0.0, 0.5], [1.0, 0.25]])))))
    assert grey.tolist() == [[0, 128], [255, 64]]


def test_tabular_sample_shows_named_columns(client):
    item = _next(client, batch="tab")["item"]
    assert item["kind"] == "tabular"
    assert item["columns"] == ["age", "income"] and item["values"] == [1.5, 20.0]
    page = client.get("/", params={"labeler": "ana", "batch": "tab"}).text
    assert "<th>income</th>" in page and "<td>20</td>" in page


def test_page_asks_who_is_labeling_then_shows_the_held_sample(client):
    assert "Who is labeling?" in client.get("/").text
    r = client.get("/", params={"labeler": "ana"})
    assert r.cookies.get("scanflow_labeler") == "ana"
    held = _next(client)["item"]
    assert f'data-item-id="{held["id"]}"' in r.text
    assert f'src="/items/{held["id"]}/image.png"' in r.text
    assert "reserved" in client.get("/", params={"labeler": "oracle"}).text
    assert client.get("/static/labeling.js").status_code == 200
    assert client.get("/static/secret.py").status_code == 404


def test_router_mounts_under_a_prefix_in_another_app(store):
    app = FastAPI()
    app.include_router(create_labeling_router(store, title="Mounted"), prefix="/label")
    client = TestClient(app)
    page = client.get("/label/", params={"labeler": "ana"}).text
    assert 'href="/label/static/labeling.css"' in page and 'src="/label/items/' in page
    item = client.get("/label/api/next", params={"labeler": "ana"}).json()["item"]
    assert item["image_url"].startswith("/label/items/")
    assert client.get(item["image_url"]).status_code == 200


def test_a_token_protects_every_route(store):
    client = TestClient(create_labeling_app(store, token="s3cret"))
    r = client.get("/api/progress")
    assert r.status_code == 401 and r.json()["detail"]["field"] == "token"
    assert client.get("/api/progress", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/api/progress", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    # A browser opens ?token= once; the cookie then carries it to the API and images.
    assert client.get("/", params={"token": "s3cret", "labeler": "ana"}).status_code == 200
    assert client.get("/api/progress").status_code == 200
    assert client.get("/items/1/image.png").status_code == 200


def test_token_comes_from_the_environment(store, monkeypatch):
    monkeypatch.setenv("SCANFLOW_TOKEN", "from-env")
    client = TestClient(create_labeling_app(store))
    assert client.get("/api/progress").status_code == 401
    assert client.get("/api/progress", headers={"X-Scanflow-Token": "from-env"}).status_code == 200


def test_the_docs_authorize_button_offers_both_token_schemes(store):
    doc = create_labeling_app(store, token="s3cret").openapi()
    schemes = doc["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert (schemes["header"]["type"], schemes["header"]["in"], schemes["header"]["name"]) == (
        "apiKey", "header", "X-Scanflow-Token")
    guarded = [op for path in doc["paths"].values() for op in path.values()]
    assert guarded and all(op["security"] == [{"bearer": []}, {"header": []}] for op in guarded)


def test_public_bind_needs_a_token(monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    assert check_bind("127.0.0.1") is None and check_bind("localhost") is None
    with pytest.raises(InsecureBindError, match="SCANFLOW_TOKEN"):
        check_bind("0.0.0.0")
    monkeypatch.setenv("SCANFLOW_TOKEN", "t")
    assert check_bind("0.0.0.0") == "t"


# ----------------------------------------------------------------------------- records, classes
WINE_CLASSES = ["class_0", "class_1", "class_2"]


@pytest.fixture
def wine_client(tmp_path, monkeypatch):
    """A store holding two wine-like records (a text column, string classes) and an RGB image."""
    import pandas as pd

    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    s = LabelStore(tmp_path / "wine.db")
    rows = pd.DataFrame(
        {"alcohol": [13.2, 12.37], "proline": [1065, 520], "cellar": ["north", None]}
    )
    s.enqueue(rows, batch="wine", classes=WINE_CLASSES, model_guess=["class_2", 1])
    s.enqueue(np.zeros((1, 2)), batch="digits")
    yield TestClient(create_labeling_app(s)), s
    s.close()


def test_a_record_comes_with_its_fields_classes_and_the_guess_by_name(wine_client):
    client, _ = wine_client
    item = _next(client, batch="wine")["item"]
    assert item["kind"] == "tabular" and item["is_record"]
    assert item["record"] == {"alcohol": 13.2, "proline": 1065, "cellar": "north"}
    assert item["columns"] == ["alcohol", "proline", "cellar"]
    assert item["values"] == [13.2, 1065, "north"]
    assert item["classes"] == WINE_CLASSES and item["class_names"] == WINE_CLASSES
    assert item["keys"] == ["1", "2", "3"]
    assert item["model_guess"] == 2 and item["model_guess_name"] == "class_2"
    assert "classes" not in item["meta"]  # shown as buttons, not as metadata
    r = client.post(f"/api/items/{item['id']}/label", json={"label": 1, "labeler": "ana"})
    assert r.json()["item"]["label"] == 1 and r.json()["item"]["label_name"] == "class_1"


def test_samples_without_classes_keep_the_digits(wine_client):
    client, _ = wine_client
    item = _next(client, batch="digits")["item"]
    assert item["classes"] == list(range(10)) and item["keys"] == [str(i) for i in range(10)]
    assert item["is_record"] is False and item["record"] is None


def test_a_label_outside_the_records_classes_is_422_naming_them(wine_client):
    client, store = wine_client
    item = _next(client, batch="wine")["item"]
    r = client.post(f"/api/items/{item['id']}/label", json={"label": 3, "labeler": "ana"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["field"] == "label" and "0=class_0" in detail["fix"] and detail["message"]
    assert store.get(item["id"]).status == "pending"


def test_page_shows_the_record_as_named_fields_and_a_button_per_class_name(wine_client):
    client, _ = wine_client
    page = client.get("/", params={"labeler": "ana", "batch": "wine"}).text
    assert "<th>cellar</th>" in page and "<td>north</td>" in page
    assert '<tr class="text">' in page and '<tr class="num"><th>proline</th><td>1065</td>' in page
    assert '<span class="name">class_1</span><kbd>2</kbd>' in page
    assert 'id="guess" class="guess long">class_2<' in page


def test_an_rgb_image_is_served_as_an_rgb_png_and_shown_scaled_up(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    rgb = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    s = LabelStore(tmp_path / "rgb.db")
    s.enqueue(rgb, batch="hwc")
    s.enqueue(np.moveaxis(rgb, -1, 1).astype(np.float32) / 255, batch="chw")  # (n, C, H, W)
    client = TestClient(create_labeling_app(s))
    for batch in ("hwc", "chw"):
        item = _next(client, batch=batch)["item"]
        assert item["kind"] == "image" and item["channels"] == 3
        assert (item["image_width"], item["image_height"]) == (32, 32)
        png = Image.open(io.BytesIO(client.get(item["image_url"]).content))
        assert png.mode == "RGB" and png.size == (32, 32)
        np.testing.assert_array_equal(np.asarray(png), rgb[0])
    page = client.get("/", params={"labeler": "bob", "batch": "hwc"}).text
    assert 'width="320" height="320"' in page  # 32 px scaled 10x to about 336 px
    s.close()


def test_png_writer_takes_channels_first_and_keeps_unit_floats_unstretched():
    rgb = np.random.default_rng(3).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    got = np.asarray(Image.open(io.BytesIO(png_bytes(rgb))))
    np.testing.assert_array_equal(got, np.moveaxis(rgb, 0, -1))
    dim = np.full((2, 2), 0.2)  # a dark float image stays dark (no min-max stretch)
    assert np.asarray(Image.open(io.BytesIO(png_bytes(dim)))).tolist() == [[51, 51], [51, 51]]
    with pytest.raises(ValueError, match="image: shape"):
        png_bytes(np.zeros((5, 5, 2)))


def test_a_numeric_row_with_nan_is_served_with_null_for_the_missing_value(tmp_path, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    s = LabelStore(tmp_path / "nan.db")
    s.enqueue(np.array([[1.5, np.nan]]), meta=[{"columns": ["a", "b"]}], scores=[float("nan")])
    client = TestClient(create_labeling_app(s))
    item = _next(client)["item"]
    assert item["values"] == [1.5, None] and item["score"] is None
    page = client.get("/", params={"labeler": "ana"}).text
    assert '<tr class="none"><th>b</th><td>—</td></tr>' in page
    s.close()
