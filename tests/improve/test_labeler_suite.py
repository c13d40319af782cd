"""The conformance suite every labeler passes (the ``Labeler`` protocol of
``scanflow.improve.labelers``): one label per index, the true one when the labeler knows it,
skips as -1, bad indices named, answers recorded in a label store under the labeler's kind.

A new labeler is added to ``LABELERS`` with a way to make it over a pool and a way to have it
answer (for a labeler backed by people, a simulated person answering through the store).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from scanflow.improve import labelers as labelers_module
from scanflow.improve.labelers import Labeler, OracleLabeler, StoreLabeler
from scanflow.improve.labels import HUMAN, ORACLE, LabelError, LabelStore

X = np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
TRUTH = np.arange(40) % 10


@dataclass
class Made:
    labeler: Labeler
    store: LabelStore
    answer: Callable[[set[int]], threading.Thread | None]  # start answering, skipping some indices


def _person(store: LabelStore, skip: set[int]) -> threading.Thread:
    """A person at the labeling UI: answers every pending sample of the store, truthfully."""
    def work():
        answered = 0
        while answered < 1000:
            items = store.claim("ana", 8)
            if not items:
                if answered and store.progress()["pending"] == 0:
                    return
                threading.Event().wait(0.02)
                continue
            for it in items:
                if int(it.meta["index"]) in skip:
                    store.skip(it.id, "ana")
                else:
                    store.submit(it.id, int(TRUTH[int(it.meta["index"])]), "ana")
                answered += 1
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _oracle(store):
    return Made(OracleLabeler(TRUTH), store, lambda skip: None)


def _people(store):
    return Made(StoreLabeler(store, X, poll=0.02, timeout=30), store, lambda skip: _person(store, skip))


LABELERS = {"oracle": (_oracle, ORACLE, False), "people": (_people, HUMAN, True)}


@pytest.fixture(params=sorted(LABELERS))
def case(request, tmp_path):
    make, kind, can_skip = LABELERS[request.param]
    return make(LabelStore(f"sqlite:///{tmp_path / 'labels.db'}")), kind, can_skip


def test_every_labeler_in_the_package_is_in_the_suite():
    found = {name for name, obj in vars(labelers_module).items()
             if isinstance(obj, type) and name.endswith("Labeler") and obj is not Labeler}
    assert found == {"OracleLabeler", "StoreLabeler"}, "add the new labeler to LABELERS here"


def test_a_labeler_follows_the_protocol_and_declares_its_kind(case):
    made, kind, _ = case
    assert isinstance(made.labeler, Labeler) and made.labeler.kind == kind and made.labeler.name


def test_a_labeler_gives_one_true_label_per_index_in_their_order(case):
    made, _, _ = case
    indices = [7, 3, 21, 3 + 10]
    made.answer(set())
    assert made.labeler.label(indices).tolist() == TRUTH[indices].tolist()


def test_a_skipped_sample_comes_back_as_minus_one(case):
    made, _, can_skip = case
    if not can_skip:
        pytest.skip("this labeler always knows the answer")
    made.answer({5})
    assert made.labeler.label([4, 5, 6]).tolist() == [4, -1, 6]


def test_an_index_outside_the_pool_is_named(case):
    made, _, _ = case
    with pytest.raises(LabelError, match="indices"):
        made.labeler.label([1, len(X)])
    assert made.store.progress()["total"] == 0  # nothing queued for a bad request


def test_answers_through_a_store_are_counted_under_the_labelers_kind(case):
    made, kind, _ = case
    if isinstance(made.labeler, OracleLabeler):
        made.store.enqueue(X[:6], batch="b", meta=[{"index": i} for i in range(6)])
        made.labeler.label_store(made.store, "b")
    else:
        made.answer(set())
        made.labeler.label(range(6))
    progress = made.store.progress()
    assert progress[kind] == 6 and progress[HUMAN if kind == ORACLE else ORACLE] == 0
