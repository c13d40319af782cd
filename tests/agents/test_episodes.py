"""EpisodeStore: open or join, status changes keyed by action, and guarded transitions."""

from __future__ import annotations

import pytest

from scanflow.agents.episodes import ACTIVE, CLOSED, RESOLVED, SETTLING, EpisodeError, EpisodeStore
from scanflow.agents.store import StateStore


@pytest.fixture
def episodes(tmp_path):
    return EpisodeStore(StateStore(f"sqlite:///{tmp_path / 'state.db'}"))


def test_alarms_join_the_open_episode_of_their_model(episodes):
    first = episodes.open_or_join("m", [1, 2], key="a1")
    assert episodes.open_or_join("m", [2, 3], key="a2").id == first.id
    assert episodes.open_or_join("other", [9], key="a3").id != first.id
    assert episodes.pool(first.id) == [1, 2, 3]


def test_a_replayed_status_change_changes_nothing_twice(episodes):
    ep = episodes.open_or_join("m", [1], key="a1")
    episodes.set_status(ep.id, SETTLING, key="s1")
    episodes.set_status(ep.id, SETTLING, key="s1")
    assert [e["event"] for e in episodes.get(ep.id).info["events"]] == ["opened", SETTLING]


def test_a_person_cannot_close_an_episode_the_agents_resolved(episodes):
    ep = episodes.open_or_join("m", [1], key="a1")
    episodes.set_status(ep.id, RESOLVED, key="r1", reason="data accepted")
    with pytest.raises(EpisodeError, match="already resolved"):
        episodes.set_status(ep.id, CLOSED, key="c1", only_from=ACTIVE)
    after = episodes.get(ep.id)
    assert after.status == RESOLVED and after.info["events"][-1]["event"] == RESOLVED
    episodes.set_status(ep.id, CLOSED, key="c1")  # the refused key was not spent
    assert episodes.get(ep.id).status == CLOSED


def test_an_unknown_episode_is_named(episodes):
    with pytest.raises(EpisodeError, match="42"):
        episodes.get(42)
