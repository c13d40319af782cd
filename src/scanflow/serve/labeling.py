"""The labeling web UI and its REST API, served by FastAPI over a :class:`LabelStore`.

One page, rendered on the server, with a little vanilla JavaScript (no build step): the sample
shown large (images as PNG from ``/items/{id}/image.png``, tabular rows as a table named by
``meta["columns"]``), the model's guess, a button per class, keys ``0``-``9`` to label, ``s`` to
skip, ``u`` / Backspace to undo, and a progress bar. Labelers say who they are once
(``?labeler=ana``, remembered in a cookie); every label is committed before it is acknowledged.

REST API (pydantic models in and out; errors are ``{"detail": {"field", "message", "fix"}}``)::

    GET  /api/next?labeler=ana[&batch=b]   the sample ana holds, or a newly claimed one
    POST /api/items/{id}/label             {"label": 3, "labeler": "ana"}
    POST /api/items/{id}/skip              {"labeler": "ana"}
    POST /api/undo                         {"labeler": "ana"}
    GET  /api/progress[?batch=b]           counts (total, labeled, skipped, pending, ...)
    GET  /api/items/{id}                   one sample's state
    GET  /api/batches                      batch names

Standalone::

    app = create_labeling_app(LabelStore("labels.db"))       # uvicorn / scanflow label serve

or inside another app (the dashboard)::

    app.include_router(create_labeling_router(store), prefix="/label")
"""

from __future__ import annotations

import json
import struct
import zlib
from importlib import resources
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, StrictInt

from ..improve.labels import ORACLE, Item, LabelError, LabelStore
from ..security import remember_token, require_token, token_dependency

__all__ = [
    "ActionResponse",
    "ItemOut",
    "LabelRequest",
    "LabelerRequest",
    "NextResponse",
    "ProgressOut",
    "create_labeling_app",
    "create_labeling_router",
    "png_bytes",
]

LABELER_COOKIE = "scanflow_labeler"
_PKG = resources.files("scanflow.serve")


# ----------------------------------------------------------------------------- models
class LabelRequest(BaseModel):
    """The answer of a labeler for one sample."""

    label: StrictInt = Field(description="the class, 0..n_classes-1")
    labeler: str = Field(min_length=1, max_length=100, description="who is labeling")


class LabelerRequest(BaseModel):
    """Who asks (skip, undo)."""

    labeler: str = Field(min_length=1, max_length=100)


class ItemOut(BaseModel):
    """A sample as the UI shows it."""

    id: int
    batch: str
    position: int
    status: str
    kind: str = Field(description="'image' (see image_url) or 'tabular' (see columns/values)")
    shape: list[int]
    image_url: str | None = None
    columns: list[str] | None = None
    values: list[float] | None = None
    model_guess: int | None = None
    score: float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    label: int | None = None
    labeler: str | None = None
    labeler_kind: str | None = None


class ProgressOut(BaseModel):
    """Queue counts; ``human`` and ``oracle`` count labels by kind of labeler."""

    total: int
    labeled: int
    skipped: int
    pending: int
    in_progress: int
    human: int
    oracle: int
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
    """Encode a (H, W), (H, W, 1|3|4) image as PNG with zlib alone (floats are min-max scaled).

    >>> png_bytes(np.zeros((2, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ValueError(f"image: shape {a.shape} is not (H, W) or (H, W, 3|4)")
    if a.dtype != np.uint8:
        f = a.astype(np.float64)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        a = (
            np.zeros(f.shape, np.uint8)
            if hi <= lo
            else ((f - lo) / (hi - lo) * 255).round().astype(np.uint8)
        )
    if scale > 1:
        a = np.repeat(np.repeat(a, scale, axis=0), scale, axis=1)
    h, w = a.shape[:2]
    color = 0 if a.ndim == 2 else {3: 2, 4: 6}[a.shape[-1]]  # grey, RGB, RGBA
    raw = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(a))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


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


def _item_out(item: Item, base: str) -> ItemOut:
    out = ItemOut(
        id=item.id,
        batch=item.batch,
        position=item.position,
        status=item.status,
        kind="image" if item.is_image else "tabular",
        shape=list(item.shape),
        model_guess=item.model_guess,
        score=item.score,
        meta={k: v for k, v in item.meta.items() if k != "columns"},
        label=item.label,
        labeler=item.labeler,
        labeler_kind=item.labeler_kind,
    )
    if item.is_image:
        out.image_url = f"{base}/items/{item.id}/image.png"
    else:
        out.columns = item.columns
        out.values = [float(v) for v in np.asarray(item.x, dtype=np.float64).ravel()]
    return out


def _base(request: Request) -> str:
    """The path this router is mounted at ('' standalone, '/label' in the dashboard)."""
    return request.url_for("scanflow_labeling_page").path.rstrip("/")


def _fmt(v: float) -> str:
    return f"{v:.4g}"


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
        class_names: a name per class for the buttons (default: the digits).
    """
    n = store.n_classes
    if class_names is not None and len(class_names) != n:
        raise ValueError(f"class_names: has {len(class_names)} names for {n} classes")
    names = [str(c) for c in class_names] if class_names else [str(i) for i in range(n)]
    guard = token_dependency(token) if token else require_token
    router = APIRouter(dependencies=[Depends(guard)])
    templates = Jinja2Templates(directory=str(_PKG / "templates"))
    templates.env.filters["fmt"] = _fmt

    def progress(batch: str | None) -> ProgressOut:
        return ProgressOut(**store.progress(batch))

    @router.get("/", response_class=HTMLResponse, name="scanflow_labeling_page")
    def page(request: Request, labeler: str | None = None, batch: str | None = None):
        labeler = (labeler or request.cookies.get(LABELER_COOKIE) or "").strip()
        base = _base(request)
        error = None
        if labeler:
            try:
                labeler = _check_human(labeler)
            except HTTPException as exc:
                error, labeler = exc.detail, ""
        item = None
        if labeler:
            try:
                claimed = store.claim(labeler, 1, batch=batch)
            except LabelError as exc:
                raise _http_error(exc) from exc
            item = _item_out(claimed[0], base) if claimed else None
        state = {
            "base": base,
            "labeler": labeler,
            "batch": batch,
            "n_classes": n,
            "class_names": names,
            "item": item.model_dump() if item else None,
            "progress": progress(batch).model_dump(),
        }
        response = templates.TemplateResponse(
            request,
            "labeling.html",
            {
                "title": title,
                "labeler": labeler,
                "batch": batch,
                "base": base,
                "item": state["item"],
                "class_names": names,
                "progress": state["progress"],
                "error": error,
                "state_json": json.dumps(state).replace("<", "\\u003c"),
            },
        )
        if labeler:
            response.set_cookie(LABELER_COOKIE, labeler, samesite="strict")
        remember_token(request, response)
        return response

    @router.get("/logout", name="scanflow_labeling_logout")
    def logout(request: Request):
        labeler = request.cookies.get(LABELER_COOKIE)
        if labeler:
            store.release(labeler)
        response = RedirectResponse(_base(request) + "/", status_code=303)
        response.delete_cookie(LABELER_COOKIE)
        return response

    @router.get("/static/{name}", name="scanflow_labeling_static")
    def static(name: str):
        types = {"labeling.js": "text/javascript", "labeling.css": "text/css"}
        if name not in types:
            raise HTTPException(
                404,
                detail={
                    "field": "name",
                    "message": f"no static file {name!r}",
                    "fix": f"use one of {', '.join(types)}",
                },
            )
        return Response(
            (_PKG / "static" / name).read_bytes(),
            media_type=types[name],
            headers={"Cache-Control": "no-cache"},
        )

    @router.get("/items/{item_id}/image.png", name="scanflow_labeling_image")
    def image(item_id: int, scale: int = Query(1, ge=1, le=32)):
        try:
            item = store.get(item_id)
        except LabelError as exc:
            raise _http_error(exc) from exc
        if not item.is_image:
            raise HTTPException(
                404,
                detail={
                    "field": "item_id",
                    "message": f"sample {item_id} is a tabular row {item.shape}",
                    "fix": f"read its values from GET /api/items/{item_id}",
                },
            )
        return Response(
            png_bytes(item.x, scale),
            media_type="image/png",
            headers={"Cache-Control": "max-age=3600"},
        )

    @router.get("/api/next", response_model=NextResponse)
    def next_item(
        request: Request,
        labeler: str = Query(min_length=1, max_length=100),
        batch: str | None = None,
    ) -> NextResponse:
        labeler = _check_human(labeler)
        try:
            claimed = store.claim(labeler, 1, batch=batch)
        except LabelError as exc:
            raise _http_error(exc) from exc
        item = _item_out(claimed[0], _base(request)) if claimed else None
        return NextResponse(item=item, progress=progress(batch))

    @router.post("/api/items/{item_id}/label", response_model=ActionResponse)
    def label(
        request: Request, item_id: int, body: LabelRequest, batch: str | None = None
    ) -> ActionResponse:
        labeler = _check_human(body.labeler)
        try:
            item = store.submit(item_id, body.label, labeler)
        except LabelError as exc:
            raise _http_error(exc) from exc
        return ActionResponse(item=_item_out(item, _base(request)), progress=progress(batch))

    @router.post("/api/items/{item_id}/skip", response_model=ActionResponse)
    def skip(
        request: Request, item_id: int, body: LabelerRequest, batch: str | None = None
    ) -> ActionResponse:
        labeler = _check_human(body.labeler)
        try:
            item = store.skip(item_id, labeler)
        except LabelError as exc:
            raise _http_error(exc) from exc
        return ActionResponse(item=_item_out(item, _base(request)), progress=progress(batch))

    @router.post("/api/undo", response_model=ActionResponse)
    def undo(request: Request, body: LabelerRequest, batch: str | None = None) -> ActionResponse:
        labeler = _check_human(body.labeler)
        item = store.undo(labeler)
        return ActionResponse(
            item=_item_out(item, _base(request)) if item else None, progress=progress(batch)
        )

    @router.get("/api/progress", response_model=ProgressOut)
    def get_progress(batch: str | None = None) -> ProgressOut:
        return progress(batch)

    @router.get("/api/items/{item_id}", response_model=ItemOut)
    def get_item(request: Request, item_id: int) -> ItemOut:
        try:
            return _item_out(store.get(item_id), _base(request))
        except LabelError as exc:
            raise _http_error(exc) from exc

    @router.get("/api/batches", response_model=list[str])
    def batches() -> list[str]:
        return store.batches()

    return router


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
    app = FastAPI(title=title, docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Same shape as the store's errors: the first bad field, what is wrong, how to fix it.
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        return JSONResponse(
            status_code=422,
            content={
                "detail": {
                    "field": ".".join(loc) or "request",
                    "message": first.get("msg", "invalid request"),
                    "fix": "see the API docs at /api/docs",
                    "errors": jsonable_encoder(errors),
                }
            },
        )

    app.state.scanflow_token = token
    app.state.label_store = store
    app.include_router(
        create_labeling_router(store, title=title, token=token, class_names=class_names)
    )
    return app
