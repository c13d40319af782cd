"""The labeling web UI and its REST API, served by FastAPI over a :class:`LabelStore`.

One page, rendered on the server, with a little vanilla JavaScript (no build step): the sample
shown large (images of any size, grey or colour, as PNG (Pillow) from ``/items/{id}/image.png``, small
ones scaled up; table rows as a two-column table of named fields and values), the model's guess
by class name, a button per class with its name and key, ``s`` to skip, ``u`` / Backspace to
undo, and a progress bar. Keys: classes named ``0``..``9`` keep their digit; other classes get
``1``-``9`` then ``0``, in order (:func:`~scanflow.improve.labels.class_keys`). Labelers say who
they are once (``?labeler=ana``, remembered in a cookie); every label is committed before it is
acknowledged.

Class names come from the classes recorded with the samples (``enqueue(..., classes=...)``),
else from ``class_names`` given here, else the digits ``0..n_classes-1``. Labels travel as class
*positions*; every item carries ``classes`` (the labels, by position), ``class_names`` and
``keys`` (what the buttons show), ``model_guess_name`` and ``label_name``.

REST API (pydantic models in and out; errors are ``{"detail": {"field", "message", "fix"}}``)::

    GET  /api/next?labeler=ana[&batch=b]   the sample ana holds, or a newly claimed one
    POST /api/items/{id}/label             {"label": 3, "labeler": "ana"}
    POST /api/items/{id}/skip              {"labeler": "ana"}
    POST /api/undo                         {"labeler": "ana"}
    GET  /api/progress[?batch=b]           counts (total, labeled, skipped, pending, ...)
    GET  /api/items/{id}                   one sample's state (record or image, classes)
    GET  /api/batches                      batch names

Standalone::

    app = create_labeling_app(LabelStore("labels.db"))       # uvicorn / scanflow label serve

or inside another app (the dashboard)::

    app.include_router(create_labeling_router(store), prefix="/label")
"""

from __future__ import annotations

import io
import json
import math
from importlib import resources
from typing import Annotated, Any
from urllib.parse import quote, unquote

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from PIL import Image
from pydantic import BaseModel, BeforeValidator, Field

from ..improve.labels import (
    ORACLE,
    RESERVED_META,
    Item,
    LabelError,
    LabelStore,
    class_keys,
    format_value,
)
from ..improve.labels import class_names as names_of  # routers take a class_names argument
from ..security import remember_token, require_token, token_dependency
from ..webapi import install, responses

__all__ = [
    "ActionResponse",
    "ItemOut",
    "LabelRequest",
    "LabelerRequest",
    "NextResponse",
    "ProgressOut",
    "QueueCounts",
    "create_labeling_app",
    "create_labeling_router",
    "png_bytes",
]

LABELER_COOKIE = "scanflow_labeler"
_PKG = resources.files("scanflow.serve")
_SHOWN_SIZE = 336  # px: small images are scaled up by a whole factor to about this size

# A value of a record row or a class label, as JSON has it (order matters: bool before int).
JSONValue = bool | int | float | str | None


# ----------------------------------------------------------------------------- models
# A person's name: some text that is not blank and not the reserved 'oracle' (any case, spaces
# around). The pattern documents the rule in the schema; _check_human enforces it, with its message.
HUMAN_PATTERN = r"^(?!\s*[Oo][Rr][Aa][Cc][Ll][Ee]\s*$)[\s\S]*\S[\s\S]*$"
_HUMAN = "who is labeling: a name, not blank, not 'oracle' (reserved for ground truth)"
MAX_ITEM_ID = 2**63 - 1  # the store's ids are SQL BIGINTs

# A sample id in a path: out of range is a 422, never a database overflow.
ItemId = Annotated[int, Path(ge=0, le=MAX_ITEM_ID, description="a sample id from the queue")]


def _whole_number(value: Any) -> Any:
    """A JSON integer: ``3`` or ``3.0`` (JSON Schema counts both), never ``true`` or ``"3"``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number (a class position)")
    return value


ClassPosition = Annotated[int, BeforeValidator(_whole_number)]


class LabelRequest(BaseModel):
    """The answer of a labeler for one sample."""

    label: ClassPosition = Field(ge=0, description="the class position, 0..n-1 for a sample of n "
                                               "classes (a larger one is refused with a 422)")
    labeler: str = Field(min_length=1, max_length=100, description=_HUMAN,
                         json_schema_extra={"pattern": HUMAN_PATTERN})


class LabelerRequest(BaseModel):
    """Who asks (skip, undo)."""

    labeler: str = Field(min_length=1, max_length=100, description=_HUMAN,
                         json_schema_extra={"pattern": HUMAN_PATTERN})


class ItemOut(BaseModel):
    """A sample as the UI shows it."""

    id: int
    batch: str
    position: int
    status: str
    kind: str = Field(description="'image' (see image_url) or 'tabular' (see columns/values)")
    shape: list[int]
    image_url: str | None = None
    image_width: int | None = Field(None, description="pixels, before any scaling")
    image_height: int | None = None
    channels: int | None = Field(None, description="1 (grey), 3 (RGB) or 4 (RGBA)")
    is_record: bool = Field(False, description="a record row: named JSON values (see record)")
    record: dict[str, JSONValue] | None = Field(None, description="a record row as a dict")
    columns: list[str] | None = None
    values: list[JSONValue] | None = Field(None, description="the row's values, in column order")
    classes: list[JSONValue] = Field(
        default_factory=list, description="the class labels, by position"
    )
    class_names: list[str] = Field(default_factory=list, description="the labels as shown")
    keys: list[str | None] = Field(default_factory=list, description="the key of each class")
    model_guess: int | None = Field(None, description="class position")
    model_guess_name: str | None = None
    score: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    label: int | None = Field(None, description="class position")
    label_name: str | None = None
    labeler: str | None = None
    labeler_kind: str | None = None


class QueueCounts(BaseModel):
    """Counts of a queue or of one batch; ``human`` and ``oracle`` count labels by kind of
    labeler."""

    total: int
    labeled: int
    skipped: int
    pending: int
    in_progress: int
    human: int
    oracle: int


class ProgressOut(QueueCounts):
    """Queue counts, and labels per labeler."""

    by_labeler: dict[str, int]


class NextResponse(BaseModel):
    """The sample to show next (None when the queue is empty) and the progress."""

    item: ItemOut | None
    progress: ProgressOut


class ActionResponse(BaseModel):
    """The sample an action changed (None: nothing to undo) and the progress after it."""

    item: ItemOut | None
    progress: ProgressOut


# ----------------------------------------------------------------------------- PNG
def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """Encode an image as PNG (Pillow): grey ``(H, W)`` or ``(H, W, 1)``, colour ``(H, W, 3|4)``
    or ``(C, H, W)`` with C in 1, 3, 4; ``scale`` repeats each pixel.

    uint8 pixels are kept; floats in [0, 1] are times 255; other values in [0, 255] are kept;
    anything else is min-max scaled to 0..255.

    >>> png_bytes(np.zeros((2, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    picture = Image.fromarray(np.ascontiguousarray(_to_uint8(_channels_last(np.asarray(image)))))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _channels_last(a: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3|4) from any image layout; ValueError naming the shape otherwise."""
    if a.ndim == 3 and a.shape[-1] not in (1, 3, 4) and a.shape[0] in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # (C, H, W)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ValueError(f"image: shape {a.shape} is not (H, W), (H, W, 1|3|4) or (1|3|4, H, W)")
    return a


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    f = a.astype(np.float64)
    finite = f[np.isfinite(f)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if a.dtype.kind == "f" and lo >= 0 and hi <= 1:
        f = f * 255
    elif not (lo >= 0 and hi <= 255):
        f = np.zeros_like(f) if hi <= lo else (f - lo) / (hi - lo) * 255
    return np.nan_to_num(f, nan=0.0, posinf=255.0, neginf=0.0).clip(0, 255).round().astype(np.uint8)


# ----------------------------------------------------------------------------- helpers
def _http_error(exc: LabelError) -> HTTPException:
    return HTTPException(status_code=exc.status_code, detail=exc.to_dict())


def _check_human(labeler: str) -> str:
    labeler = labeler.strip()
    if not labeler:
        raise HTTPException(
            422,
            detail={
                "field": "labeler",
                "message": "is empty",
                "fix": "say who is labeling, e.g. ?labeler=ana",
            },
        )
    if labeler.lower() == ORACLE:
        raise HTTPException(
            422,
            detail={
                "field": "labeler",
                "message": f"{labeler!r} is reserved for ground-truth labels",
                "fix": "use your own name",
            },
        )
    return labeler


def _labeler_cookie(request: Request) -> str | None:
    value = request.cookies.get(LABELER_COOKIE)
    return unquote(value) if value else None


def _item_out(item: Item, base: str, default_classes: list[Any]) -> ItemOut:
    """The API view of a sample; ``default_classes`` serve samples that recorded none."""
    classes = item.classes or default_classes
    names = names_of(classes)
    out = ItemOut(
        id=item.id,
        batch=item.batch,
        position=item.position,
        status=item.status,
        kind="image" if item.is_image else "tabular",
        shape=list(item.shape),
        classes=classes,
        class_names=names,
        keys=class_keys(names),
        model_guess=item.model_guess,
        model_guess_name=_name_at(names, item.model_guess),
        score=_finite(item.score),
        meta={k: v for k, v in item.meta.items() if k not in RESERVED_META},
        label=item.label,
        label_name=_name_at(names, item.label),
        labeler=item.labeler,
        labeler_kind=item.labeler_kind,
    )
    if item.is_image:
        image = item.image
        out.image_url = f"{base}/items/{item.id}/image.png"
        out.image_height, out.image_width = image.shape[:2]
        out.channels = 1 if image.ndim == 2 else image.shape[-1]
    else:
        out.columns, out.values = item.columns, [_finite(v) for v in item.values]
        if item.is_record:
            out.is_record, out.record = True, item.record
    return out


def _finite(v: Any) -> Any:
    """NaN and infinities as None: JSON (and the browser) cannot read them."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _name_at(names: list[str], position: int | None) -> str | None:
    if position is None:
        return None
    return names[position] if 0 <= position < len(names) else str(position)


def _shown_size(item: dict[str, Any] | None) -> tuple[int, int]:
    """Display size of an image: scaled up by a whole factor to about 336 px, never down."""
    if not item or not item.get("image_width"):
        return _SHOWN_SIZE, _SHOWN_SIZE
    w, h = item["image_width"], item["image_height"]
    k = max(1, _SHOWN_SIZE // max(w, h))
    return w * k, h * k


def _base(request: Request) -> str:
    """The path this router is mounted at ('' standalone, '/label' in the dashboard)."""
    return request.url_for("scanflow_labeling_page").path.rstrip("/")


def _value_class(v: Any) -> str:
    """The CSS class of a table cell: numbers align right, text left, missing is greyed."""
    if v is None:
        return "none"
    return "num" if isinstance(v, int | float) and not isinstance(v, bool) else "text"


def _page_context(title: str, state: dict[str, Any], error: Any) -> dict[str, Any]:
    """What the page template needs: the state, the class buttons, the image size."""
    item = state["item"]
    names = item["class_names"] if item else state["class_names"]
    keys = class_keys(names)
    width, height = _shown_size(item)
    return {
        "title": title,
        "labeler": state["labeler"],
        "batch": state["batch"],
        "base": state["base"],
        "item": item,
        "buttons": [{"name": n, "key": k} for n, k in zip(names, keys, strict=True)],
        "key_hint": _key_hint(keys),
        "wide": any(len(n) > 2 for n in names),
        "shown_width": width,
        "shown_height": height,
        "progress": state["progress"],
        "error": error,
        "state_json": json.dumps(state).replace("<", "\\u003c"),
    }


def _key_hint(keys: list[str | None]) -> str:
    """``0–9``, ``1–3`` or ``1–9, 0``: the class keys in the order of the classes."""
    given = [k for k in keys if k is not None]
    if not given:
        return ""
    if len(given) > 2 and given[-1] == "0" and given[0] == "1":
        return f"1–{given[-2]}, 0"
    return given[0] if len(given) == 1 else f"{given[0]}–{given[-1]}"


# ----------------------------------------------------------------------------- router
def create_labeling_router(
    store: LabelStore,
    *,
    title: str = "Scanflow labeling",
    token: str | None = None,
    class_names: list[str] | None = None,
) -> APIRouter:
    """The labeling page and API as a router, to include in any FastAPI app.

    Args:
        store: the label queue.
        title: shown in the page header.
        token: access token; None means ``$SCANFLOW_TOKEN`` or the app's, if any (see
            :mod:`scanflow.serve.security`).
        class_names: a name per class for samples enqueued without ``classes`` (default: the
            digits ``0..n_classes-1``); samples with classes show their own.
    """
    n = store.n_classes
    if class_names is not None and len(class_names) != n:
        raise ValueError(
            f"class_names: has {len(class_names)} names for {n} classes "
            f"(give one name per class, or open the store with n_classes={len(class_names)})"
        )
    labeling = _Labeling(store, title, list(class_names) if class_names else list(range(n)))
    guard = token_dependency(token) if token else require_token
    router = APIRouter(dependencies=[Depends(guard)])
    _add_page_routes(router, labeling)
    _add_api_routes(router, labeling)
    return router


class _Labeling:
    """What the routes share: the store, the page template, the default class names."""

    def __init__(self, store: LabelStore, title: str, default_classes: list[Any]) -> None:
        self.store, self.title, self.default_classes = store, title, default_classes
        self.templates = Jinja2Templates(directory=str(_PKG / "templates"))
        self.templates.env.filters["fmt"] = format_value
        self.templates.env.filters["cell"] = _value_class

    def out(self, item: Item, request: Request) -> ItemOut:
        return _item_out(item, _base(request), self.default_classes)

    def progress(self, batch: str | None) -> ProgressOut:
        return ProgressOut(**self.store.progress(batch))

    def claim_one(self, labeler: str, batch: str | None, request: Request) -> ItemOut | None:
        try:
            claimed = self.store.claim(labeler, 1, batch=batch)
        except LabelError as exc:
            raise _http_error(exc) from exc
        return self.out(claimed[0], request) if claimed else None

    def page(self, request: Request, labeler: str | None, batch: str | None) -> Response:
        """The labeling page: the labeler's next sample, or the name form when none is given."""
        labeler = (labeler or _labeler_cookie(request) or "").strip()
        error = None
        if labeler:
            try:
                labeler = _check_human(labeler)
            except HTTPException as exc:
                error, labeler = exc.detail, ""
        item = self.claim_one(labeler, batch, request) if labeler else None
        names = names_of(self.default_classes)
        state = {
            "base": _base(request), "labeler": labeler, "batch": batch, "class_names": names,
            "keys": class_keys(names), "item": item.model_dump() if item else None,
            "progress": self.progress(batch).model_dump(),
        }
        response = self.templates.TemplateResponse(
            request, "labeling.html", _page_context(self.title, state, error))
        if labeler:  # percent-encoded: a header carries Latin-1 only, a name may be any text
            response.set_cookie(LABELER_COOKIE, quote(labeler, safe=""), samesite="strict")
        remember_token(request, response)
        return response

    def image(self, item_id: int, scale: int) -> Response:
        try:
            item = self.store.get(item_id)
        except LabelError as exc:
            raise _http_error(exc) from exc
        if not item.is_image:
            raise HTTPException(404, detail={
                "field": "item_id",
                "message": f"sample {item_id} is a tabular row {item.shape}",
                "fix": f"read its values from GET /api/items/{item_id}",
            })
        return Response(png_bytes(item.image, scale), media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})


class PNGResponse(Response):
    media_type = "image/png"


_STATIC_TYPES = {"labeling.js": "text/javascript", "labeling.css": "text/css"}


def _add_page_routes(router: APIRouter, labeling: _Labeling) -> None:
    """The HTML page, its static files, sample images and logout."""

    @router.get("/", response_class=HTMLResponse, name="scanflow_labeling_page",
                summary="The labeling page (HTML)")
    def page(request: Request, labeler: str | None = None, batch: str | None = None):
        return labeling.page(request, labeler, batch)

    @router.get("/logout", name="scanflow_labeling_logout", include_in_schema=False)
    def logout(request: Request):
        labeler = _labeler_cookie(request)
        if labeler:
            labeling.store.release(labeler)
        response = RedirectResponse(_base(request) + "/", status_code=303)
        response.delete_cookie(LABELER_COOKIE)
        return response

    @router.get("/static/{name}", name="scanflow_labeling_static", include_in_schema=False)
    def static(name: str):
        if name not in _STATIC_TYPES:
            raise HTTPException(404, detail={
                "field": "name", "message": f"no static file {name!r}",
                "fix": f"use one of {', '.join(_STATIC_TYPES)}",
            })
        return Response((_PKG / "static" / name).read_bytes(), media_type=_STATIC_TYPES[name],
                        headers={"Cache-Control": "no-cache"})

    @router.get("/items/{item_id}/image.png", name="scanflow_labeling_image",
                response_class=PNGResponse, responses=responses(404),
                summary="A sample's image as PNG (404 for a tabular sample)")
    def image(item_id: ItemId, scale: int = Query(1, ge=1, le=32)):
        return labeling.image(item_id, scale)


def _add_api_routes(router: APIRouter, labeling: _Labeling) -> None:
    """The JSON API: claim the next sample, label, skip, undo, progress, items, batches."""
    store, out, progress = labeling.store, labeling.out, labeling.progress

    @router.get("/api/next", response_model=NextResponse)
    def next_item(request: Request, batch: str | None = None,
                  labeler: str = Query(min_length=1, max_length=100, description=_HUMAN,
                                       json_schema_extra={"pattern": HUMAN_PATTERN})) -> NextResponse:
        item = labeling.claim_one(_check_human(labeler), batch, request)
        return NextResponse(item=item, progress=progress(batch))

    @router.post("/api/items/{item_id}/label", response_model=ActionResponse,
                 responses=responses(404, 409))
    def label(request: Request, item_id: ItemId, body: LabelRequest,
              batch: str | None = None) -> ActionResponse:
        labeler = _check_human(body.labeler)
        try:
            item = store.submit(item_id, body.label, labeler)
        except LabelError as exc:
            raise _http_error(exc) from exc
        return ActionResponse(item=out(item, request), progress=progress(batch))

    @router.post("/api/items/{item_id}/skip", response_model=ActionResponse,
                 responses=responses(404, 409))
    def skip(request: Request, item_id: ItemId, body: LabelerRequest,
             batch: str | None = None) -> ActionResponse:
        labeler = _check_human(body.labeler)
        try:
            item = store.skip(item_id, labeler)
        except LabelError as exc:
            raise _http_error(exc) from exc
        return ActionResponse(item=out(item, request), progress=progress(batch))

    @router.post("/api/undo", response_model=ActionResponse)
    def undo(request: Request, body: LabelerRequest, batch: str | None = None) -> ActionResponse:
        item = store.undo(_check_human(body.labeler))
        return ActionResponse(item=out(item, request) if item else None, progress=progress(batch))

    @router.get("/api/progress", response_model=ProgressOut)
    def get_progress(batch: str | None = None) -> ProgressOut:
        return progress(batch)

    @router.get("/api/items/{item_id}", response_model=ItemOut, responses=responses(404))
    def get_item(request: Request, item_id: ItemId) -> ItemOut:
        try:
            return out(store.get(item_id), request)
        except LabelError as exc:
            raise _http_error(exc) from exc

    @router.get("/api/batches", response_model=list[str])
    def batches() -> list[str]:
        return store.batches()


def create_labeling_app(
    store: LabelStore,
    *,
    title: str = "Scanflow labeling",
    token: str | None = None,
    class_names: list[str] | None = None,
) -> FastAPI:
    """A standalone FastAPI app serving the labeling page and API at ``/``.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> store = LabelStore("sqlite://")
        >>> _ = store.enqueue(np.zeros((1, 28, 28), np.uint8), batch="b")
        >>> client = TestClient(create_labeling_app(store))
        >>> client.get("/api/next", params={"labeler": "ana"}).json()["item"]["kind"]
        'image'
    """
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    install(app, docs_prefix="/api", guard=token_dependency(token) if token else require_token,
            token=token)
    app.state.scanflow_token = token
    app.state.label_store = store
    app.include_router(
        create_labeling_router(store, title=title, token=token, class_names=class_names)
    )
    return app
