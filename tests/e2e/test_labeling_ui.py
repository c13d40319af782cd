"""The labeling page in a real headless Chromium against a real uvicorn server."""

from __future__ import annotations

import pytest

from scanflow.datasets.loaders import load_mnist
from scanflow.improve.labels import LabelStore
from scanflow.serve.labeling import create_labeling_app

pytestmark = pytest.mark.e2e


@pytest.fixture
def labeling_server(tmp_path, live_server, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    X, y = load_mnist("test", limit=6)
    path = tmp_path / "labels.db"
    store = LabelStore(path)
    store.enqueue(
        X,
        batch="drift",
        model_guess=[int(v) for v in y],
        meta=[{"index": i} for i in range(len(X))],
    )
    return live_server(create_labeling_app(store)), path


def _shown_id(page) -> int:
    return int(page.locator("#item").get_attribute("data-item-id"))


def _wait_for_other(page, old_id: int) -> int:
    page.wait_for_function(
        "old => document.getElementById('item').dataset.itemId !== String(old)", arg=old_id
    )
    return _shown_id(page)


def test_label_by_click_and_keyboard_undo_and_reload(page, labeling_server):
    from playwright.sync_api import expect

    base, db = labeling_server
    page.goto(base + "/")
    page.fill("#labeler-input", "ana")
    page.click("text=Start labeling")
    expect(page.locator("#labeler")).to_have_text("ana")
    first = _shown_id(page)
    # The image really loaded (a 28x28 PNG shown large) and the guess is visible.
    assert page.eval_on_selector("#sample-image", "img => img.complete && img.naturalWidth") == 28
    expect(page.locator("#guess")).not_to_be_empty()

    page.click('button[data-label="3"]')  # by click
    second = _wait_for_other(page, first)
    page.keyboard.press("5")  # by keyboard
    third = _wait_for_other(page, second)
    page.keyboard.press("s")  # skip
    fourth = _wait_for_other(page, third)
    expect(page.locator("#progress-text")).to_contain_text("2 / 6 labeled")
    expect(page.locator("#progress-text")).to_contain_text("1 skipped")

    page.keyboard.press("u")  # undo the skip: the third sample comes back
    expect(page.locator("#item")).to_have_attribute("data-item-id", str(third))
    page.keyboard.press("Backspace")  # undo the 5: the second sample comes back
    expect(page.locator("#item")).to_have_attribute("data-item-id", str(second))
    expect(page.locator("#status")).to_contain_text(f"#{second}")
    page.keyboard.press("8")  # relabel it
    expect(page.locator("#item")).to_have_attribute("data-item-id", str(third))
    expect(page.locator("#progress-text")).to_contain_text("2 / 6 labeled")

    page.reload()  # the labeler is remembered and gets the sample they hold
    expect(page.locator("#item")).to_have_attribute("data-item-id", str(third))
    expect(page.locator("#progress-text")).to_contain_text("2 / 6 labeled")
    page.keyboard.press("1")
    expect(page.locator("#item")).not_to_have_attribute("data-item-id", str(third))

    store = LabelStore(db)  # what a fresh process reads from the file
    got = {it.id: (it.label, it.labeler, it.status) for it in store.items_of("drift")}
    assert got[first] == (3, "ana", "labeled")
    assert got[second] == (8, "ana", "labeled")
    assert got[third] == (1, "ana", "labeled")
    assert got[fourth][2] == "pending"
    assert store.progress()["human"] == 3
    assert [h["action"] for h in store.history(item_id=second)] == ["label", "undo", "label"]


def test_labels_every_sample_by_keyboard_then_shows_done(page, labeling_server):
    from playwright.sync_api import expect

    base, db = labeling_server
    page.goto(base + "/?labeler=bob")
    for key in "012345":  # typed fast: each key waits its turn and labels the next sample
        page.keyboard.press(key)
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#progress-text")).to_contain_text("6 / 6 labeled")
    _, _, y = LabelStore(db).labeled("drift")
    assert y.tolist() == [0, 1, 2, 3, 4, 5]


def test_conflict_is_shown_as_an_error_message(page, labeling_server):
    from playwright.sync_api import expect

    base, db = labeling_server
    page.goto(base + "/?labeler=ana")
    shown = _shown_id(page)
    # While ana's page still shows the sample, she gives it up elsewhere and carl labels it.
    store = LabelStore(db)
    store.release("ana")
    store.submit(shown, 2, "carl")
    page.keyboard.press("4")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("item_id")
    expect(page.locator("#error")).to_contain_text("carl")
    # The page moves on: the sample carl labeled is not left on screen.
    expect(page.locator("#item")).not_to_have_attribute("data-item-id", str(shown))
    assert LabelStore(db).get(shown).label == 2


# ----------------------------------------------------------------------------- table rows
WINE_CLASSES = ["class_0", "class_1", "class_2"]
WINE_COLUMNS = [
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
    "od280/od315_of_diluted_wines", "proline",
]  # fmt: skip


@pytest.fixture
def wine_server(tmp_path, live_server, monkeypatch):
    """Four wine-like rows (13 numbers and a text column; string classes), then a digit image."""
    import numpy as np
    import pandas as pd

    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(rng.uniform(0.1, 20, (4, 13)).round(3), columns=WINE_COLUMNS)
    rows["proline"] = [1065, 1050, 520, 680]
    rows["cellar"] = ["north", "south", "north", "east"]
    path = tmp_path / "labels.db"
    store = LabelStore(path)
    store.enqueue(
        rows,
        batch="wine",
        classes=WINE_CLASSES,
        model_guess=["class_2", "class_0", "class_1", "class_0"],
    )
    X, _ = load_mnist("test", limit=1)
    store.enqueue(X, batch="digits")
    return live_server(create_labeling_app(store)), path


def test_labels_wine_rows_by_class_name_button_and_by_keyboard(page, wine_server):
    from playwright.sync_api import expect

    base, db = wine_server
    page.goto(base + "/?labeler=ana")
    expect(page.locator("#sample-row")).to_be_visible()
    expect(page.locator("#sample-image")).to_be_hidden()
    # Named fields and their values, text shown as text; the guess by class name.
    for name in ("alcohol", "od280/od315_of_diluted_wines", "proline", "cellar"):
        expect(page.locator("#sample-row tbody th", has_text=name)).to_be_visible()
    expect(page.locator("#sample-row tbody tr", has_text="cellar")).to_contain_text("north")
    expect(page.locator("#sample-row tbody tr", has_text="proline")).to_contain_text("1065")
    expect(page.locator("#guess")).to_have_text("class_2")
    expect(page.locator("button.choice")).to_have_count(3)
    expect(page.locator("button.choice").nth(0)).to_have_text("class_01")  # name, then key
    first = _shown_id(page)

    page.locator("button.choice", has_text="class_1").click()  # by clicking its name
    second = _wait_for_other(page, first)
    expect(page.locator("#guess")).to_have_text("class_0")
    expect(page.locator("#sample-row tbody tr", has_text="cellar")).to_contain_text("south")
    page.keyboard.press("7")  # no class has key 7: nothing happens
    page.evaluate("() => window.scanflowLabeling.idle()")
    assert _shown_id(page) == second
    page.keyboard.press("3")  # by keyboard: the third class
    third = _wait_for_other(page, second)
    page.keyboard.press("1")
    fourth = _wait_for_other(page, third)
    page.keyboard.press("s")
    _wait_for_other(page, fourth)
    expect(page.locator("#progress-text")).to_contain_text("3 / 5 labeled")

    # The next batch has no class names: the buttons become the digits again, keys 0-9.
    expect(page.locator("#sample-image")).to_be_visible()
    expect(page.locator("button.choice")).to_have_count(10)
    page.keyboard.press("7")
    expect(page.locator("#done")).to_be_visible()

    store = LabelStore(db)  # what a fresh process reads from the file
    ids, X, y = store.labeled("wine")
    assert ids.tolist() == [first, second, third] and y.tolist() == [1, 2, 0]
    assert store.label_of(y, "wine").tolist() == ["class_1", "class_2", "class_0"]
    assert list(X.columns) == [*WINE_COLUMNS, "cellar"]
    assert X["cellar"].tolist() == ["north", "south", "north"]
    assert store.get(fourth).status == "skipped"
    assert store.labeled("digits")[2].tolist() == [7]


def test_an_rgb_image_renders_in_colour_scaled_up(page, tmp_path, live_server, monkeypatch):
    import io

    import numpy as np
    from PIL import Image
    from playwright.sync_api import expect

    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, :, :16] = (230, 20, 10)  # left half red
    image[0, :, 16:] = (10, 40, 220)  # right half blue
    store = LabelStore(tmp_path / "rgb.db")
    store.enqueue(image, batch="cifar", classes=["airplane", "bird", "cat"], model_guess=[2])
    base = live_server(create_labeling_app(store))
    page.goto(base + "/?labeler=ana")
    expect(page.locator("#guess")).to_have_text("cat")
    img = page.locator("#sample-image")
    expect(img).to_be_visible()
    page.wait_for_function("() => document.getElementById('sample-image').complete")
    size = img.evaluate("i => [i.naturalWidth, i.naturalHeight, i.width, i.height]")
    assert size == [32, 32, 320, 320]  # 32 px scaled up 10x
    # The browser decodes colour: read two pixels back through a canvas.
    pixels = img.evaluate(
        """i => { const c = document.createElement('canvas'); c.width = 32; c.height = 32;
                  const g = c.getContext('2d'); g.drawImage(i, 0, 0);
                  return [Array.from(g.getImageData(4, 16, 1, 1).data),
                          Array.from(g.getImageData(28, 16, 1, 1).data)]; }"""
    )
    assert pixels == [[230, 20, 10, 255], [10, 40, 220, 255]]
    png = page.request.get(base + img.get_attribute("src"))
    assert Image.open(io.BytesIO(png.body())).mode == "RGB"
    page.keyboard.press("3")  # the third class, "cat"
    expect(page.locator("#done")).to_be_visible()
    assert store.label_of(store.labeled("cifar")[2], "cifar").tolist() == ["cat"]
