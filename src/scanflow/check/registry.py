"""Detector registry: built-ins, ``@register_detector`` plugins and entry points.

A plugin is a :class:`~scanflow.check.base.Detector` subclass registered either with the
decorator (in code that is imported) or through the ``scanflow.detectors`` entry point group
of an installed package::

    [project.entry-points."scanflow.detectors"]
    my_detector = "my_pkg.detectors:MyDetector"

Registered detectors run from ``scanflow check --detector NAME``, report the same
:class:`~scanflow.check.result.CheckResult` and are picked up by the shared test suite.

Example:
    >>> from scanflow.check import Detector, register_detector, available_detectors
    >>> @register_detector("always_ok_doc")
    ... class AlwaysOk(Detector):
    ...     pass
    >>> "always_ok_doc" in available_detectors()
    True
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Detector

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_detectors",
    "get_detector",
    "get_detector_class",
    "register_detector",
    "unregister_detector",
]

ENTRY_POINT_GROUP = "scanflow.detectors"
_REGISTRY: dict[str, type[Detector]] = {}
_entry_points_loaded = False


def register_detector(name: str, *, overwrite: bool = False):
    """Class decorator registering a Detector subclass under ``name``."""
    # lazy: cycle, .base imports this module
    from .base import Detector

    if not isinstance(name, str) or not name.strip():
        raise ValueError("a detector name must be a non-empty string")

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise TypeError(f"{cls!r} is not a scanflow.check.Detector subclass")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls and not overwrite:
            raise ValueError(
                f"a detector named {name!r} is already registered ({existing.__module__}."
                f"{existing.__qualname__}); pick another name or pass overwrite=True"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def unregister_detector(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    # lazy: cycle, .base imports this module
    from .base import Detector

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            warnings.warn(f"cannot load detector plugin {ep.name!r} ({ep.value}): {exc}",
                          stacklevel=2)
            continue
        if isinstance(obj, type) and issubclass(obj, Detector) and ep.name not in _REGISTRY:
            register_detector(ep.name)(obj)


def available_detectors() -> list[str]:
    """Names of every registered detector (built-ins, decorated plugins, entry points)."""
    _load_entry_points()
    return sorted(_REGISTRY)


def get_detector_class(name: str) -> type[Detector]:
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"no detector named {name!r}; available: {', '.join(sorted(_REGISTRY))}. "
            "Register one with @register_detector or the 'scanflow.detectors' entry point."
        ) from None


def get_detector(name: str, **params) -> Detector:
    """A new detector of the registered kind ``name`` with the given settings."""
    return get_detector_class(name)(**params)
