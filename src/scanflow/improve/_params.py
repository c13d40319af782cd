"""``get_params`` and ``repr`` from the constructor's keyword arguments (scikit-learn style)."""

from __future__ import annotations

import inspect
from typing import Any


class ParamsMixin:
    """Settings are the ``__init__`` keyword arguments, stored unchanged under the same names."""

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as passed."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
