"""The small ``Detector`` interface every detector implements.

    fit(X_ref)   learn the reference and calibrate thresholds once (state ends with ``_``)
    score(X)     one anomaly score per sample (higher = more unusual)
    predict(X)   the batch decision, a :class:`~scanflow.check.result.CheckResult`
    save(path) / Detector.load(path)   a single ``.npz`` file: JSON metadata + arrays,
                 loaded with ``allow_pickle=False`` (no code runs when a file is opened)

Settings are keyword arguments of ``__init__`` stored unchanged (scikit-learn style), so
``get_params`` / ``set_params`` / :meth:`Detector.clone` work for every detector.

Inputs: images as uint8 ``(n, H, W)`` / ``(n, 1, H, W)`` / ``(n, H, W, C)`` or float in
[0, 1]; tables as 2-D numeric arrays or pandas DataFrames. Bad input raises
:class:`DetectorInputError` naming what is wrong and how to fix it.

Columns are matched by name. A detector fitted on a DataFrame keeps its column names
(``feature_names_in_``, also in saved files); a DataFrame given later to ``score`` /
``predict`` is put back in the reference order, so reordered columns are no drift, and a
missing or an extra column raises :class:`DetectorInputError` naming it. A plain array is
taken positionally, and only when its width matches the reference.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from scanflow.errors import ScanflowError
from scanflow.params import ParamsMixin

from .registry import get_detector_class
from .result import CheckResult, to_jsonable

__all__ = [
    "Detector",
    "DetectorInputError",
    "NotFittedError",
    "PreparedData",
    "align_columns",
    "prepare_input",
]

FORMAT = "scanflow.detector"
FORMAT_VERSION = 1


class DetectorInputError(ScanflowError, ValueError):
    """The data passed to a detector has the wrong shape, dtype or values."""


class NotFittedError(ScanflowError, RuntimeError):
    """A detector was used before ``fit``."""


class PreparedData:
    """Validated data: ``values`` float array, ``kind`` 'image' or 'table'.

    Images are float32 ``(n, C, H, W)`` in [0, 1]; tables are float64 ``(n, d)``.
    """

    __slots__ = ("values", "kind", "columns")

    def __init__(self, values: np.ndarray, kind: str, columns: list[str] | None = None):
        self.values = values
        self.kind = kind
        self.columns = columns

    def __len__(self) -> int:
        return len(self.values)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape[1:])

    def flat(self) -> np.ndarray:
        """Samples as rows of features (images flattened)."""
        return self.values.reshape(len(self.values), -1)


def _is_frame(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _names_preview(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"


def align_columns(X, names: list[str]):
    """The DataFrame ``X`` with its columns in the order of ``names``, matched by name.

    Raises :class:`DetectorInputError` naming the duplicate, missing and extra columns.

    Example:
        >>> import pandas as pd
        >>> list(align_columns(pd.DataFrame({"b": [1], "a": [2]}), ["a", "b"]).columns)
        ['a', 'b']
    """
    given = [str(c) for c in X.columns]
    duplicates = sorted({c for c in given if given.count(c) > 1})
    if duplicates:
        raise DetectorInputError(
            f"X has duplicate columns {duplicates}; give every column once (columns are "
            "matched by name)"
        )
    expected, present = set(names), set(given)
    missing = [n for n in names if n not in present]
    extra = [c for c in given if c not in expected]
    problems = []
    if missing:
        problems.append(
            f"X is missing columns {missing} that the detector was fitted on; add them (same "
            "name and units as the reference) or refit on a reference without them"
        )
    if extra:
        problems.append(
            f"X has unexpected columns {extra} that the reference did not have; drop them "
            f"(X.drop(columns={extra})) or refit on a reference with those columns"
        )
    if problems:
        raise DetectorInputError("; ".join(problems) + " (columns are matched by name)")
    if given == list(names):
        return X
    position = {c: i for i, c in enumerate(given)}
    return X.iloc[:, [position[n] for n in names]]


def _frame_to_array(X) -> tuple[np.ndarray, list[str]]:
    import pandas as pd  # lazy: only DataFrame input needs pandas, which is slow to import

    bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        raise DetectorInputError(
            f"columns {bad} are not numeric; this detector needs numbers. Encode them, drop "
            "them, or use the 'chi2' / 'integrity' detectors for categorical columns."
        )
    return X.to_numpy(dtype=np.float64, na_value=np.nan), [str(c) for c in X.columns]


def prepare_input(X, *, allow_nan: bool = False, kind: str | None = None) -> PreparedData:
    """Validate and normalise detector input (see the module docstring for the rules)."""
    arr, columns = _as_array(X)
    _check_dtype_and_shape(arr, kind)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.float64)
    if arr.dtype.kind == "c":
        raise DetectorInputError("X is complex; pass real numbers")
    is_image = arr.ndim >= 3 if kind is None else kind == "image"
    if not is_image:
        values = arr.astype(np.float64, copy=False)
        _check_finite(values, allow_nan)
        return PreparedData(values, "table", columns)
    return PreparedData(np.ascontiguousarray(_image_values(arr, allow_nan)), "image", None)


def _as_array(X) -> tuple[np.ndarray, list[str] | None]:
    """``X`` as an array, with the column names when it is a DataFrame."""
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # pandas DataFrame
        if len(X) == 0:
            raise DetectorInputError("empty batch: X has 0 rows; pass at least one sample")
        return _frame_to_array(X)
    if X is None:
        raise DetectorInputError("X is None; pass an array or a DataFrame")
    return np.asarray(X), None


def _check_dtype_and_shape(arr: np.ndarray, kind: str | None) -> None:
    """Refuse non-numbers, empty batches, 1-D or >4-D arrays, and a shape of the wrong kind."""
    if arr.dtype == object or arr.dtype.kind in "USMmV":
        raise DetectorInputError(
            f"X has dtype {arr.dtype}; this detector needs numbers (uint8 images or float "
            "features). Use the 'chi2' / 'integrity' detectors for categories."
        )
    if arr.ndim == 0 or (arr.ndim >= 1 and arr.shape[0] == 0):
        raise DetectorInputError("empty batch: X has no samples; pass at least one sample")
    if arr.ndim == 1:
        raise DetectorInputError(
            f"X is 1-D with shape {arr.shape}; pass a 2-D table (n_samples, n_features) "
            "(use X.reshape(-1, 1) for one feature) or images (n, H, W)"
        )
    if arr.ndim > 4:
        raise DetectorInputError(f"X has {arr.ndim} dimensions {arr.shape}; expected 2 to 4")
    if kind == "table" and arr.ndim != 2:
        raise DetectorInputError(
            f"this detector was fitted on a table (n, d) but X has shape {arr.shape}"
        )
    if kind == "image" and arr.ndim == 2:
        raise DetectorInputError(
            f"this detector was fitted on images but X has shape {arr.shape}; pass "
            "(n, H, W) or (n, C, H, W) images"
        )


def _image_values(arr: np.ndarray, allow_nan: bool) -> np.ndarray:
    """Images as float32 ``(n, C, H, W)`` in [0, 1] (uint8 and integer 0-255 are scaled)."""
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.shape[1] not in (1, 3, 4) and arr.shape[-1] in (1, 3, 4):
        arr = np.moveaxis(arr, -1, 1)  # channels last -> channels first
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() > 255:
            raise DetectorInputError(
                f"integer images must hold 0-255 values, got range [{arr.min()}, {arr.max()}]"
            )
        return arr.astype(np.float32) / np.float32(255.0)
    values = arr.astype(np.float32, copy=False)
    _check_finite(values, allow_nan)
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < -1e-6 or finite.max() > 1 + 1e-6):
        raise DetectorInputError(
            f"float images must be in [0, 1], got range [{finite.min():.3g}, "
            f"{finite.max():.3g}]; pass uint8 0-255 images or divide by 255"
        )
    return np.clip(values, 0.0, 1.0) if not allow_nan else values


def _check_finite(values: np.ndarray, allow_nan: bool) -> None:
    if allow_nan:
        return
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(values), -1))[0])
        n_nan = int(np.isnan(values).sum())
        raise DetectorInputError(
            f"X contains {n_nan} NaN and {int(bad.sum()) - n_nan} infinite values "
            f"(rows {rows[:10].tolist()}{' ...' if len(rows) > 10 else ''}); clean or impute "
            "them first, or run the 'integrity' detector, which reports them"
        )


class Detector(ParamsMixin, ABC):
    """Base class of every detector (see the module docstring).

    Subclasses implement ``_fit(data)``, ``_score(data)`` and ``_predict(data)`` on
    :class:`PreparedData`, plus ``_get_state`` / ``_set_state`` for persistence; the base
    class validates input, enforces ``fit`` before use and handles save / load.

    Tags (class attributes) tell the shared test suite and the CLI what a detector takes:
    ``input_kinds`` ("image", "table", "categorical"), ``allow_nan``, ``reports_schema``
    (schema problems are reported as drift instead of raised).
    """

    name: ClassVar[str] = "detector"
    input_kinds: ClassVar[tuple[str, ...]] = ("image", "table")
    allow_nan: ClassVar[bool] = False
    reports_schema: ClassVar[bool] = False

    # ------------------------------------------------------------------ parameters
    # get_params / set_params / clone / __repr__ come from scanflow.params.ParamsMixin.

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        """Small, fast settings for the shared test suite."""
        return {}

    # ------------------------------------------------------------------ fit / use
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_reference_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call .fit(X_reference) "
                "first (or Detector.load(path) a fitted one)"
            )

    def _align_columns(self, X):
        """``X`` with its columns matched by name to the reference's, when both have names.

        Composite detectors call this before handing ``X`` to an inner detector that was
        fitted on plain arrays.
        """
        names = getattr(self, "feature_names_in_", None)
        if names and _is_frame(X):
            return align_columns(X, list(names))
        return X

    def _prepare(self, X, *, fitting: bool) -> PreparedData:
        kind = None if fitting else getattr(self, "input_kind_", None)
        if not fitting:
            X = self._align_columns(X)
        data = prepare_input(X, allow_nan=self.allow_nan, kind=kind)
        if data.kind not in self.input_kinds:
            raise DetectorInputError(
                f"{type(self).__name__} does not take {data.kind} data; it takes "
                f"{', '.join(self.input_kinds)}"
            )
        if not fitting and data.sample_shape != tuple(self.input_shape_):
            raise DetectorInputError(self._layout_message(data))
        return data

    def _layout_message(self, data: PreparedData) -> str:
        names = getattr(self, "feature_names_in_", None)
        if data.kind == "table" and len(self.input_shape_) == 1:
            fitted = f"{self.input_shape_[0]} columns"
            if names:
                fitted += f" {_names_preview(list(names))}"
            return (
                f"X has {data.sample_shape[0]} columns but the detector was fitted on "
                f"{fitted}; pass a DataFrame with those columns (matched by name) or an "
                "array with the same columns in the reference order"
            )
        return (
            f"X has per-sample shape {data.sample_shape} but the detector was fitted on "
            f"{tuple(self.input_shape_)}; pass data with the reference layout"
        )

    def fit(self, X, y=None) -> Detector:
        """Learn the reference distribution from ``X`` and calibrate the decision."""
        data = self._prepare(X, fitting=True)
        self.input_kind_ = data.kind
        self.input_shape_ = list(data.sample_shape)
        self.feature_names_in_ = data.columns
        self._fit(data)
        self.n_reference_ = len(data)
        return self

    def score(self, X) -> np.ndarray:
        """One anomaly score per sample, higher = more unusual (float64, shape (n,))."""
        self._check_fitted()
        return np.asarray(self._score(self._prepare(X, fitting=False)), dtype=np.float64)

    def predict(self, X) -> CheckResult:
        """Decide whether the batch ``X`` drifted from the reference."""
        self._check_fitted()
        return self._predict(self._prepare(X, fitting=False))

    # to implement
    @abstractmethod
    def _fit(self, data: PreparedData) -> None:
        """Implemented by every subclass."""

    @abstractmethod
    def _score(self, data: PreparedData) -> np.ndarray:
        """Implemented by every subclass."""

    @abstractmethod
    def _predict(self, data: PreparedData) -> CheckResult:
        """Implemented by every subclass."""

    def reference_scores(self) -> np.ndarray | None:
        """Per-sample scores of held-out reference data, for reports (None if not kept)."""
        return getattr(self, "reference_scores_", None)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Learned state as (JSON-able dict, arrays). Override and call super()."""
        meta = {
            "input_kind_": self.input_kind_,
            "input_shape_": list(self.input_shape_),
            "feature_names_in_": self.feature_names_in_,
            "n_reference_": int(self.n_reference_),
        }
        return meta, {}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.input_kind_ = meta["input_kind_"]
        self.input_shape_ = list(meta["input_shape_"])
        self.feature_names_in_ = meta.get("feature_names_in_")
        self.n_reference_ = int(meta["n_reference_"])

    def _dump(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        state, arrays = self._get_state()
        meta = {"class": self.name, "params": to_jsonable(self.get_params()), "state": state}
        return meta, arrays

    @classmethod
    def _restore(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Detector:
        klass = get_detector_class(meta["class"])
        obj = klass(**meta["params"])
        obj._set_state(meta["state"], arrays)
        return obj

    def save(self, path: str | Path) -> Path:
        """Save the fitted detector to one ``.npz`` file (JSON metadata + numpy arrays)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        meta, arrays = self._dump()
        header = {"format": FORMAT, "version": FORMAT_VERSION, **meta}
        for key in arrays:
            if key.startswith("__"):
                raise ValueError(f"array name {key!r} is reserved")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, __scanflow__=np.array(json.dumps(to_jsonable(header))), **arrays
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        """Load a detector saved by :meth:`save` (never unpickles)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detector file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError) as exc:
            raise DetectorInputError(f"{path}: not a Scanflow detector file ({exc})") from exc
        if "__scanflow__" not in arrays:
            raise DetectorInputError(f"{path}: not a Scanflow detector file (no header)")
        header = json.loads(str(arrays.pop("__scanflow__")))
        if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
            raise DetectorInputError(
                f"{path}: unsupported detector format {header.get('format')!r} "
                f"v{header.get('version')}"
            )
        obj = cls._restore(header, arrays)
        if cls is not Detector and not isinstance(obj, cls):
            raise DetectorInputError(
                f"{path} holds a {type(obj).__name__}, not a {cls.__name__}; "
                "use Detector.load(path)"
            )
        return obj

    # helpers for composite detectors
    @staticmethod
    def _nest(prefix: str, child: Detector) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = child._dump()
        return meta, {f"{prefix}/{k}": v for k, v in arrays.items()}

    @staticmethod
    def _unnest(prefix: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Detector:
        sub = {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + "/")}
        return Detector._restore(meta, sub)

