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
