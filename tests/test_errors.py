"""Every exception Scanflow defines derives from ScanflowError and is listed in docs/errors.md."""

import importlib
import pkgutil
from pathlib import Path

import pytest

import scanflow
from scanflow.errors import ScanflowError

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"

# Modules whose optional dependencies may be missing: skipped, not failed, when they are.
OPTIONAL_DEPS = {"ray", "playwright", "psycopg", "psycopg2", "graphviz"}

def _modules():
    modules, missing = [], []
    for info in pkgutil.walk_packages(scanflow.__path__, "scanflow."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # running the CLI is not importing it
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as exc:
            if (exc.name or "").split(".")[0] not in OPTIONAL_DEPS:
                raise
            missing.append(info.name)
    return modules, missing


def _project_exceptions() -> dict[str, type[BaseException]]:
    found = {}
    for module in _modules()[0]:
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, BaseException)
                    and obj.__module__.split(".")[0] == "scanflow"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


EXCEPTIONS = _project_exceptions()
ERRORS = {name: cls for name, cls in EXCEPTIONS.items() if not issubclass(cls, Warning)}


def test_the_scan_finds_the_project_exceptions():
    assert len(ERRORS) > 20
    assert {"scanflow.app.errors.SpecError", "scanflow.check.base.DetectorInputError",
            "scanflow.improve.label_items.UnknownItemError"} <= set(ERRORS)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_derives_from_scanflow_error(name):
    cls = ERRORS[name]
    assert issubclass(cls, ScanflowError), (
        f"{name} derives from {[b.__name__ for b in cls.__bases__]}: add ScanflowError as its "
        "first base (keep the built-in one second, e.g. (ScanflowError, ValueError))")


def test_except_valueerror_still_catches_the_value_errors():
    from scanflow.app import SpecError
    from scanflow.check import DetectorInputError

    assert issubclass(SpecError, ValueError) and issubclass(DetectorInputError, ValueError)


def test_every_exception_is_documented():
    text = DOC.read_text()
    missing = sorted(name for name in EXCEPTIONS if f"`{name}`" not in text)
    assert not missing, f"add these to {DOC.name} (where raised, what to do): {missing}"
