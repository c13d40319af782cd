"""Write application folders for the spec tests."""

from __future__ import annotations

import textwrap

import pytest


@pytest.fixture
def write_app(tmp_path):
    """``write_app(yaml_text, files={...}, name="scanflow.yaml")`` -> the application folder."""

    def write(text: str, files: dict[str, str] | None = None, name: str = "scanflow.yaml"):
        for file, content in (files or {}).items():
            (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / file).write_text(textwrap.dedent(content))
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
        return tmp_path

    return write
