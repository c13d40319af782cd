"""The tracking tests run on a real MLflow SQLite store (``tracking_store``, tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tracking_store):
    return tracking_store
