"""The label store: a durable, concurrent queue of samples awaiting labels."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scanflow.improve.labelers import OracleLabeler
from scanflow.improve.labels import (
    LabelConflictError,
    LabelError,
    LabelStore,
    UnknownItemError,
)

# `store_url`: every store test runs on a SQLite file and on PostgreSQL (see tests/_postgres.py).
pytest_plugins = ["_postgres"]


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)


@pytest.fixture
def store(store_url):
    s = LabelStore(store_url)
    yield s
    s.close()


def test_enqueue_keeps_images_exact_with_shape_and_dtype(store, images):
    ids = store.enqueue(images, batch="b1", model_guess=[1, 2, 3, 4, 5, 6])
    assert len(ids) == 6 and len(set(ids)) == 6
    item = store.get(ids[2])
    assert item.x.dtype == np.uint8 and item.x.shape == (28, 28)
    np.testing.assert_array_equal(item.x, images[2])
    assert item.data == images[2].tobytes()  # raw bytes, no pickle
    assert item.model_guess == 3 and item.status == "pending" and item.batch == "b1"


def test_enqueue_keeps_float_rows_and_column_names(store):
    rows = np.array([[0.5, -1.25, 3e-8], [1.0, 2.0, 3.0]])
    ids = store.enqueue(rows, batch="tab", meta=[{"columns": ["a", "b", "c"]}] * 2)
    item = store.get(ids[0])
    np.testing.assert_array_equal(item.x, rows[0])
    assert item.x.dtype == np.float64 and not item.is_image
    assert item.columns == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"meta": [{}]}, "meta"),
        ({"model_guess": [1]}, "model_guess"),
        ({"scores": [0.1, 0.2, 0.3]}, "scores"),
        ({"model_guess": [1, 12]}, "model_guess[1]"),
        ({"batch": ""}, "batch"),
    ],
)
def test_enqueue_rejects_bad_input_naming_the_field(store, kwargs, field):
    with pytest.raises(LabelError) as err:
        store.enqueue(np.zeros((2, 3)), **kwargs)
    assert err.value.field == field
    assert store.progress()["total"] == 0


def test_enqueue_refuses_objects_and_single_samples(store):
    with pytest.raises(LabelError, match="samples"):
        store.enqueue(np.array([[object()]], dtype=object))
    with pytest.raises(LabelError, match="wrap a single sample"):
        store.enqueue(np.zeros(3))


def test_claim_hands_out_high_scores_first_and_returns_held_items_again(store, images):
    ids = store.enqueue(images[:3], scores=[0.1, 0.9, 0.5])
    first = store.claim("ana", 2)
    assert [it.id for it in first] == [ids[1], ids[2]]
    # Asking again (a page reload) gives ana what she holds, not a new sample.
    assert store.claim("ana", 1)[0].id in {ids[1], ids[2]}
    assert [it.id for it in store.claim("bob", 5)] == [ids[0]]
    assert store.claim("carl", 1) == []


def test_two_threads_claiming_never_get_the_same_sample(store):
    ids = store.enqueue(np.zeros((60, 4)))
    got: dict[str, list[int]] = {"t1": [], "t2": []}

    def worker(name: str) -> None:
        local = LabelStore(store.url)  # its own engine and connections, like another process
        while True:
            items = local.claim(name, 1)
            if not items:
                break
            got[name].append(items[0].id)
            local.submit(items[0].id, 1, name)
        local.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not set(got["t1"]) & set(got["t2"])
    assert sorted(got["t1"] + got["t2"]) == ids
    p = store.progress()
    assert p["labeled"] == 60 and p["by_labeler"]["t1"] + p["by_labeler"]["t2"] == 60


def test_expired_lease_returns_the_sample_to_the_queue(store_url):
    clock = FakeClock()
    s = LabelStore(store_url, lease_seconds=60, clock=clock)
    [iid] = s.enqueue(np.zeros((1, 2)))
    assert s.claim("ana")[0].id == iid
    assert s.claim("bob") == []
    with pytest.raises(LabelConflictError) as err:
        s.submit(iid, 1, "bob")
    assert err.value.field == "item_id" and "held by 'ana'" in err.value.message
    clock.t += 61
    assert s.claim("bob")[0].id == iid
    s.submit(iid, 4, "bob")
    assert s.get(iid).labeler == "bob"


def test_submit_is_durable_across_a_restart(tmp_path, store_url, images):
    # On SQLite, a plain file path in a folder that does not exist yet.
    path = tmp_path / "state" / "labels.db" if store_url.startswith("sqlite") else store_url
    s1 = LabelStore(path)
    ids = s1.enqueue(images[:3], batch="b")
    s1.submit(ids[0], 7, "ana")
    s1.skip(ids[1], "ana")
    s1.close()
    s2 = LabelStore(path)  # a new process would see exactly this
    assert s2.get(ids[0]).label == 7 and s2.get(ids[0]).labeler == "ana"
    assert s2.get(ids[0]).labeled_at is not None
    assert s2.progress("b") == {
        "total": 3,
        "labeled": 1,
        "skipped": 1,
        "pending": 1,
        "in_progress": 0,
        "human": 1,
        "oracle": 0,
        "by_labeler": {"ana": 1},
    }
    got_ids, X, y = s2.labeled("b")
    assert got_ids.tolist() == [ids[0]] and y.tolist() == [7]
    np.testing.assert_array_equal(X[0], images[0])
    assert [h["action"] for h in s2.history(labeler="ana")] == ["label", "skip"]


def test_submit_refuses_bad_labels_unknown_ids_and_other_labelers_work(store, images):
    ids = store.enqueue(images[:2])
    with pytest.raises(LabelError) as err:
        store.submit(ids[0], 10, "ana")
    assert err.value.field == "label"
    with pytest.raises(LabelError) as err:
        store.submit(ids[0], True, "ana")
    assert err.value.field == "label"
    with pytest.raises(UnknownItemError) as err:
        store.submit(999, 1, "ana")
    assert err.value.field == "item_id"
    store.submit(ids[0], 3, "ana")
    with pytest.raises(LabelConflictError, match="already labeled by 'ana'"):
        store.submit(ids[0], 4, "bob")
    assert store.submit(ids[0], 5, "ana").label == 5  # a labeler may correct their own label
    assert store.get(ids[0]).label == 5


def test_undo_takes_back_the_last_label_and_returns_the_sample_to_its_labeler(store, images):
    ids = store.enqueue(images[:3])
    a = store.claim("ana")[0]
    store.submit(a.id, 1, "ana")
    b = store.claim("ana")[0]
    store.skip(b.id, "ana")
    c = store.claim("ana")[0]
    with pytest.raises(LabelConflictError):
        store.submit(c.id, 2, "bob")  # ana holds c
    back = store.undo("ana")  # the skip of b
    assert back.id == b.id and back.status == "pending" and back.claimed_by == "ana"
    assert store.claim("ana")[0].id == b.id  # the undone sample comes straight back
    back = store.undo("ana")  # then the label of a
    assert back.id == a.id and back.label is None
    assert store.undo("ana") is None
    assert store.progress()["labeled"] == 0
    assert [h["action"] for h in store.history(item_id=a.id)] == ["label", "undo"]
    assert sorted(ids) == sorted([a.id, b.id, c.id])


def test_undo_passes_over_labels_changed_by_someone_else(store):
    [iid] = store.enqueue(np.zeros((1, 2)))
    store.skip(iid, "ana")
    store.submit(iid, 3, "bob")  # a skipped sample is free for anyone
    assert store.undo("ana") is None
    assert store.get(iid).label == 3


def test_requeue_and_release_put_samples_back(store):
    ids = store.enqueue(np.zeros((2, 2)))
    store.skip(ids[0], "ana")
    store.claim("ana")
    assert store.release("ana") == 1
    assert store.requeue_skipped() == 1
    assert store.progress()["pending"] == 2 and store.progress()["in_progress"] == 0


def test_oracle_labels_through_the_store_and_is_counted_apart(store):
    y_true = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    store.enqueue(np.zeros((3, 2)), batch="b", meta=[{"index": i} for i in (5, 0, 7)])
    store.enqueue(np.zeros((2, 2)), batch="c")
    [h] = store.claim("ana", 1, batch="c")
    store.submit(h.id, 8, "ana")
    assert OracleLabeler(y_true).label_store(store, "b") == 3
    ids, _, y = store.labeled("b")
    assert y.tolist() == [9, 3, 6]
    p = store.progress()
    assert (p["oracle"], p["human"], p["pending"]) == (3, 1, 1)
    assert store.batch_progress() == {
        "b": {"total": 3, "labeled": 3, "skipped": 0, "pending": 0},
        "c": {"total": 2, "labeled": 1, "skipped": 0, "pending": 1},
    }
    assert {it.labeler_kind for it in store.items_of("b")} == {"oracle"}
    assert OracleLabeler(y_true).label([1, 2]).tolist() == [1, 4]
    with pytest.raises(LabelError, match="indices"):
        OracleLabeler(y_true).label([8])


def test_batches_and_labeled_of_an_empty_batch(store, images):
    store.enqueue(images[:1], batch="first")
    store.enqueue(np.zeros((1, 3)), batch="second")
    assert store.batches() == ["first", "second"]
    assert store.has_batch("second") and not store.has_batch("third")
    ids, X, y = store.labeled("first")
    assert ids.size == 0 and X.shape == (0, 28, 28) and y.size == 0
    store.submit(1, 1, "ana")
    store.submit(2, 1, "ana")
    with pytest.raises(LabelError) as err:
        store.labeled()
    assert err.value.field == "batch"


def test_the_label_store_shares_the_state_database_s_engines_and_versioned_schema(store_url):
    from scanflow.agents.store import StateStore
    from scanflow.storage import head_revision, schema_revision

    labels = LabelStore(store_url)
    assert labels.db is StateStore(store_url).db
    assert schema_revision(labels.db) == head_revision()
    labels.close()  # releases the pooled connections; the store reconnects when used again
    assert labels.progress()["total"] == 0
