"""Vendored JSON schemas used to check exports before they are written (see README.md)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from scanflow.errors import ScanflowError

HERE = Path(__file__).parent


class ExportInvalid(ScanflowError, ValueError):
    """An export does not match its target's schema (a bug in Scanflow or an odd spec value)."""


@cache
def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema (vendored from Docker Compose 1.29.2)."""
    return json.loads((HERE / "compose_spec.json").read_text())


def validate_compose(doc: dict[str, Any], required: bool = False) -> bool:
    """Check a compose/stack document against the Compose specification schema.

    Returns False without checking when ``jsonschema`` is not installed (unless ``required``).
    """
    try:
        # lazy: jsonschema, slow to import and optional here (validation is skipped without it)
        import jsonschema
    except ImportError:
        if required:
            raise ImportError("checking compose files needs jsonschema: pip install jsonschema") from None
        return False
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:10]]
        raise ExportInvalid("the compose document does not match the Compose specification:\n  "
                            + "\n  ".join(lines))
    return True
