"""The label store on a real PostgreSQL server: what only a multi-connection server shows.

The single-client behaviours (enqueue, claim, submit, skip, undo, progress, durability) run on
PostgreSQL too: tests/improve/test_labels.py parametrises them over SQLite and PostgreSQL.
These add concurrency (PostgreSQL runs READ COMMITTED, where SQLite serialises writers), on
both back-ends through ``store_url``, and what PostgreSQL stores (column types, bytes seen by a
plain connection). The PostgreSQL cases are skipped without ``$SCANFLOW_TEST_POSTGRES_URL``
(see tests/_postgres.py).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import sqlalchemy as sa

from _postgres import run_threads as _run_threads
from scanflow.improve.labels import LabelConflictError, LabelStore

pytest_plugins = ["_postgres"]


def test_four_labelers_claiming_batches_at_once_never_share_a_sample(store_url):
    store = LabelStore(store_url)
    ids = store.enqueue(np.arange(80 * 3, dtype=np.float32).reshape(80, 3), batch="b")
    got: dict[str, list[int]] = {f"w{i}": [] for i in range(4)}

    def worker(name):
        local = LabelStore(store_url)  # its own engine and connections, like another process
        try:
            while items := local.claim(name, 3):
                got[name].extend(it.id for it in items)
                for it in items:
                    assert it.claimed_by == name
                    local.submit(it.id, it.id % 10, name)
        finally:
            local.close()

    _run_threads(worker, list(got))
    claimed = [i for ids_ in got.values() for i in ids_]
    assert len(claimed) == len(set(claimed)) == 80  # nobody got a sample twice
    assert sorted(claimed) == ids
    p = store.progress("b")
    assert p["labeled"] == 80 and p["pending"] == 0 and sum(p["by_labeler"].values()) == 80
    # Every labeler's answers are the ones stored, and the audit log has one entry each.
    for name, mine in got.items():
        assert {it.id for it in store.items_of("b") if it.labeler == name} == set(mine)
    assert len(store.history()) == 80
    store.close()


def test_two_labelers_answering_one_free_sample_at_once_one_wins(store_url):
    store = LabelStore(store_url)
    ids = store.enqueue(np.zeros((10, 2)))
    outcome: dict[str, list[str]] = {"ana": [], "bob": []}

    def worker(name):
        local = LabelStore(store_url)
        try:
            for iid in ids:  # nobody claimed these: both may try, only one may succeed
                try:
                    local.submit(iid, 1 if name == "ana" else 2, name)
                    outcome[name].append("ok")
                except LabelConflictError as exc:
                    assert "already labeled by" in exc.message
                    outcome[name].append("conflict")
        finally:
            local.close()

    _run_threads(worker, list(outcome))
    for i, iid in enumerate(ids):
        results = sorted([outcome["ana"][i], outcome["bob"][i]])
        assert results == ["conflict", "ok"], f"sample {iid}: {results}"
        item = store.get(iid)
        winner = "ana" if outcome["ana"][i] == "ok" else "bob"
        assert item.labeler == winner and item.label == (1 if winner == "ana" else 2)
        assert [h["labeler"] for h in store.history(item_id=iid)] == [winner]
    store.close()


def test_committed_answers_are_seen_by_a_plain_connection_and_a_new_store(postgres_url):
    s1 = LabelStore(postgres_url, n_classes=4)
    big_endian = np.array([[1.5, -2.25], [3.0, 4.0]], dtype=">f8")
    ids = s1.enqueue(
        big_endian,
        batch="tab",
        meta=[{"index": 0}, {"index": 1}],
        model_guess=[3, 0],
        scores=[0.25, None],
    )
    [held] = s1.claim("ana")
    assert held.id == ids[0]  # scored samples first: a NULL score sorts last on PostgreSQL too
    s1.submit(held.id, 2, "ana")
    s1.skip(ids[1], "bob")
    # Another client (not SQLAlchemy's pool of this store) sees the commits at once.
    with sa.create_engine(postgres_url, poolclass=sa.pool.NullPool).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, label, labeler FROM scanflow_label_items ORDER BY id")
        ).all()
        types = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'scanflow_label_items'"
                )
            ).all()
        )
    assert [tuple(r) for r in rows] == [("labeled", 2, "ana"), ("skipped", None, "bob")]
    assert types["data"] == "bytea" and types["labeled_at"] == "timestamp without time zone"
    s1.close()
    s2 = LabelStore(postgres_url, n_classes=4)
    item = s2.get(ids[0])
    assert item.data == big_endian[0].astype("<f8").tobytes()
    np.testing.assert_array_equal(item.x, big_endian[0])
    assert (item.label, item.model_guess, item.score, item.meta) == (2, 3, 0.25, {"index": 0})
    assert s2.undo("bob").id == ids[1]  # undo works across store objects
    assert s2.progress("tab")["pending"] == 1 and s2.progress("tab")["in_progress"] == 1
    s2.close()


def test_records_and_class_names_are_stored_as_json_a_plain_connection_reads(postgres_url):
    s1 = LabelStore(postgres_url)
    rows = pd.DataFrame({"alcohol": [13.2, 12.4], "cellar": ["north", "süd"], "year": [2019, 2020]})
    classes = ["class_0", "class_1", "class_2"]
    ids = s1.enqueue(rows, batch="wine", classes=classes, model_guess=["class_1", 2])
    s1.submit(ids[1], 0, "ana")
    s1.close()
    with sa.create_engine(postgres_url, poolclass=sa.pool.NullPool).connect() as conn:
        dtype, data, meta = conn.execute(
            sa.text("SELECT dtype, data, meta FROM scanflow_label_items WHERE id = :i"),
            {"i": ids[0]},
        ).one()
    assert dtype == "json"  # JSON text in the bytes column: no pickle, no new column
    assert json.loads(bytes(data).decode()) == {
        "columns": ["alcohol", "cellar", "year"],
        "values": [13.2, "north", 2019],
    }
    assert json.loads(meta)["classes"] == classes
    s2 = LabelStore(postgres_url)
    assert s2.get(ids[1]).record == {"alcohol": 12.4, "cellar": "süd", "year": 2020}
    _, X, y = s2.labeled("wine")
    assert X.to_dict("records") == [{"alcohol": 12.4, "cellar": "süd", "year": 2020}]
    assert s2.label_of(y, "wine").tolist() == ["class_0"]
    assert s2.get(ids[0]).class_label(s2.get(ids[0]).model_guess) == "class_1"
    s2.close()
