"""Database URLs: what a store is given (a SQLAlchemy URL or a file path) made into one URL.

>>> database_url("sqlite://")
'sqlite://'
>>> database_url("/tmp/state/scanflow.db")
'sqlite:////tmp/state/scanflow.db'
>>> is_memory("sqlite:///:memory:"), is_memory("sqlite:////tmp/a.db")
(True, False)
>>> printable("postgresql+psycopg://ana:secret@db/scanflow")
'postgresql+psycopg://ana:***@db/scanflow'
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from scanflow.errors import ScanflowError

__all__ = ["DatabaseURLError", "database_url", "is_memory", "is_sqlite", "printable", "sqlite_path"]

#: The in-memory SQLite URL every spelling of it normalises to.
MEMORY_URL = "sqlite://"

_EXAMPLES = "'sqlite:///path/to/scanflow.db' or 'postgresql+psycopg://user:pass@host/db'"


class DatabaseURLError(ScanflowError, ValueError):
    """A store was given something that is not a database URL (or, where allowed, a path)."""


def database_url(url_or_path: str | os.PathLike[str], *, what: str = "database URL",
                 allow_path: bool = True) -> str:
    """A SQLAlchemy URL for ``url_or_path``; a file path becomes ``sqlite:///<absolute path>``.

    ``sqlite:///:memory:`` becomes ``sqlite://`` (an in-memory database). The
    folder of a SQLite file is created when missing. ``what`` names the setting in errors;
    ``allow_path=False`` refuses bare paths (the setting must be a URL).
    """
    text = os.fspath(url_or_path) if isinstance(url_or_path, str | os.PathLike) else url_or_path
    if not isinstance(text, str) or not text.strip():
        raise DatabaseURLError(f"{what} {url_or_path!r} is not a database URL: use {_EXAMPLES}")
    if "://" not in text:
        if not allow_path:
            raise DatabaseURLError(f"{what} {text!r} is not a database URL: use {_EXAMPLES}")
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    try:
        parsed = sa.make_url(text)
    except ArgumentError as exc:
        raise DatabaseURLError(f"{what} {text!r} cannot be parsed ({exc}): use {_EXAMPLES}") from None
    if is_memory(parsed):
        return MEMORY_URL
    path = sqlite_path(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return text


def is_sqlite(url: str | sa.URL) -> bool:
    """True for any SQLite URL (file or memory)."""
    return sa.make_url(url).get_backend_name() == "sqlite"


def is_memory(url: str | sa.URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://``, ``sqlite:///:memory:``)."""
    parsed = sa.make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def sqlite_path(url: str | sa.URL) -> Path | None:
    """The file of a SQLite file URL, else None."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or is_memory(parsed):
        return None
    return Path(parsed.database)


def printable(url: str | sa.URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)
