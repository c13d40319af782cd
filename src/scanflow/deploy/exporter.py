"""The one interface every export target implements, and the registry of targets.

An exporter takes its settings as keyword arguments and has one method,
``export(app, out_dir) -> {what: path}``: it writes the target's files for an
:class:`~scanflow.app.Application` into ``out_dir`` and returns every file it wrote (or uses,
such as a node's own Dockerfile). The built-in targets are ``dockerfiles``, ``compose``,
``swarm`` and ``kubernetes``; a new one joins with :func:`register_exporter`, which also puts it
in the shared exporter suite (tests/deploy/test_exporter_suite.py).

>>> sorted(EXPORTERS)
['compose', 'dockerfiles', 'kubernetes', 'swarm']
>>> get_exporter("kubernetes", namespace="prod", tag="v2")
KubernetesExporter(tag='v2', namespace='prod')
>>> get_exporter("compose", namespace="prod")
Traceback (most recent call last):
...
scanflow.deploy.exporter.ExportError: the 'compose' exporter has no setting 'namespace'; it accepts: registry, tag, base_image, tracker_image, validate
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from scanflow.app import Application
from scanflow.errors import ScanflowError
from scanflow.params import ParamsMixin

from .containers import BASE_IMAGE, Deployment, build_deployment

__all__ = ["EXPORTERS", "ExportError", "Exporter", "export", "get_exporter", "register_exporter"]


class ExportError(ScanflowError, ValueError):
    """An export asked for something that cannot be done: an unknown target or setting, an output
    path that is not a folder."""


class Exporter(ParamsMixin, ABC):
    """Base class of the export targets (see the module docstring). Settings are the
    constructor's keyword arguments (``get_params``, ``clone``, ``repr`` as for detectors).

    Args:
        registry: image registry prefix of the images Scanflow builds (``ghcr.io/me``).
        tag: tag of those images.
        base_image: base image of the generated Dockerfiles (default: :data:`BASE_IMAGE`).
        tracker_image: image of the MLflow tracker container.
    """

    target: ClassVar[str] = ""

    def __init__(self, registry: str | None = None, tag: str = "latest", base_image: str | None = None,
                 tracker_image: str | None = None):
        self.registry = registry
        self.tag = tag
        self.base_image = base_image
        self.tracker_image = tracker_image

    @abstractmethod
    def export(self, app: Application, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the target's files for ``app`` into ``out_dir``; returns ``{what: path}``."""

    def deployment(self, app: Application) -> Deployment:
        """The containers of ``app`` (names, images, commands, resources) with these settings."""
        return build_deployment(app, registry=self.registry, tag=self.tag, tracker_image=self.tracker_image)

    @property
    def dockerfile_base(self) -> str:
        return self.base_image or BASE_IMAGE

    def output_folder(self, out_dir: str | os.PathLike[str]) -> Path:
        """``out_dir``, created if needed; an existing file there is refused, by name."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ExportError(f"cannot write the {self.target} export into {out}: it is a file, not a "
                              "folder; pass a folder (-o DIR), which is created if needed")
        out.mkdir(parents=True, exist_ok=True)
        return out

    @classmethod
    def settings(cls) -> list[str]:
        """The names of the keyword settings this exporter accepts."""
        return cls._param_names()


EXPORTERS: dict[str, type[Exporter]] = {}

E = TypeVar("E", bound=type[Exporter])


def register_exporter(cls: E) -> E:
    """Add an :class:`Exporter` subclass to the registry under its ``target`` (a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Exporter)) or not cls.target:
        raise TypeError(f"register_exporter takes an Exporter subclass with a `target` name, got {cls!r}")
    if cls.target in EXPORTERS and EXPORTERS[cls.target] is not cls:
        raise ExportError(f"an exporter for {cls.target!r} is already registered "
                          f"({EXPORTERS[cls.target].__name__}); give {cls.__name__} another target")
    EXPORTERS[cls.target] = cls
    return cls


def get_exporter(target: str, **settings: Any) -> Exporter:
    """The exporter of ``target`` with ``settings``; an unknown target or setting is named."""
    try:
        cls = EXPORTERS[target]
    except KeyError:
        known = ", ".join(sorted(EXPORTERS))
        raise ExportError(f"unknown export target {target!r}: use one of {known}") from None
    accepted = cls.settings()
    unknown = [k for k in settings if k not in accepted]
    if unknown:
        raise ExportError(f"the {target!r} exporter has no setting {unknown[0]!r}; it accepts: "
                          f"{', '.join(accepted)}")
    return cls(**settings)


def export(app: Application, target: str, out_dir: str | os.PathLike[str],
           **settings: Any) -> dict[str, Path]:
    """Write the ``target`` files (dockerfiles, compose, swarm, kubernetes) of ``app`` into ``out_dir``."""
    return get_exporter(target, **settings).export(app, out_dir)
