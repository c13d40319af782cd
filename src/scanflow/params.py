"""Settings are the constructor (scikit-learn style): one mixin for every configurable part.

Detectors (:mod:`scanflow.check`), selectors, improvement strategies, zero-label strategies and
the evaluation gate (:mod:`scanflow.improve`) take all their settings as keyword arguments of
``__init__`` and store them unchanged under the same names; what they learn ends with ``_``.
:class:`ParamsMixin` turns that convention into ``get_params``, ``set_params``, ``clone`` and a
``repr`` that shows the settings that differ from the defaults.

>>> class Smoother(ParamsMixin):
...     def __init__(self, *, window: int = 5, center: bool = True):
...         self.window = window
...         self.center = center
>>> s = Smoother(window=9)
>>> s
Smoother(window=9)
>>> s.get_params()
{'window': 9, 'center': True}
>>> s.clone().set_params(center=False)
Smoother(window=9, center=False)
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, TypeVar

from .errors import ScanflowError

__all__ = ["ParamsError", "ParamsMixin"]

P = TypeVar("P", bound="ParamsMixin")


class ParamsError(ScanflowError, ValueError):
    """A setting that the object's constructor does not take."""


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``clone`` / ``repr`` from the ``__init__`` signature.

    A subclass stores every ``__init__`` argument unchanged as an attribute of the same name
    and does no work in ``__init__``; then a clone is ``type(self)(**self.get_params())``.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        """The names of the constructor's settings (``*args`` / ``**kwargs`` are not settings)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor settings, as passed.

        With ``deep``, the settings of nested configurable objects are added as
        ``<name>__<setting>`` (the scikit-learn convention).
        """
        params = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(params.items()):
                if isinstance(value, ParamsMixin):
                    params.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
        return params

    def set_params(self: P, **params: Any) -> P:
        """Change settings in place; an unknown name raises :class:`ParamsError` with the valid ones."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ParamsError(f"{type(self).__name__} has no parameter {key!r}; valid: {sorted(valid)} "
                                  f"(see help({type(self).__name__}))")
            setattr(self, key, value)
        return self

    def clone(self: P) -> P:
        """A new, unfitted object with the same settings (nested settings objects cloned too)."""
        return type(self)(**{k: _clone_value(v) for k, v in self.get_params().items()})

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _clone_value(value: Any) -> Any:
    if isinstance(value, ParamsMixin):
        return value.clone()
    if isinstance(value, (list, dict, set)):
        return copy.deepcopy(value)  # the clone must not share a mutable setting with the original
    return value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and odd types: treat as different
        return a is b
