"""What every Scanflow HTTP service shares: one error body, an OpenAPI document that says so,
and API docs behind the service's token.

Every error answer, whatever the service and whatever went wrong, has this body::

    {"detail": {"field": "item_id",                 # the culprit: a parameter, a body field,
                                                   # "token", "path", "request" or "server"
                "message": "no sample 99",          # what is wrong
                "fix": "use an id from the queue",  # what to do about it ("" when nothing)
                "errors": [...]}}                   # 422 only: every invalid field (loc, msg, type)

:func:`install` gives an app these handlers and an OpenAPI document where every operation
declares the error answers it can give (400 for a body that cannot be decoded, 401 when a token
is in force, 404 on paths with parameters, 422 everywhere, plus what a route declares itself:
409, 503) with this
schema; and serves ``/openapi.json``, ``/docs`` and ``/redoc`` only to holders of the token
when one is set (the docs' *Authorize* button takes it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .security import remember_token, require_token, resolve_token

__all__ = ["ErrorBody", "ErrorDetail", "add_openapi_hook", "error_body", "install", "responses", "token_in_force"]

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong, where, and how to fix it."""

    field: str = Field(description="the culprit: a parameter or body field, 'token', 'path', "
                                   "'request' or 'server'")
    message: str = Field(description="what is wrong")
    fix: str = Field("", description="what to do about it")
    errors: list[dict[str, Any]] | None = Field(
        None, description="422 only: every invalid field, as {loc, msg, type}")


class ErrorBody(BaseModel):
    """The body of every error answer of every Scanflow service."""

    detail: ErrorDetail


_DESCRIPTIONS = {400: "Bad request", 401: "Missing or wrong access token", 404: "Not found",
                 409: "Conflict with the current state", 422: "Invalid input",
                 500: "Internal error", 503: "Not ready (no model to serve yet)"}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer these error codes (with :class:`ErrorBody`)."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "Error")} for code in codes}


def error_body(field: str, message: str, fix: str = "", errors: list | None = None) -> dict[str, Any]:
    """The JSON of an error answer."""
    detail: dict[str, Any] = {"field": field, "message": message, "fix": fix}
    if errors is not None:
        detail["errors"] = errors
    return {"detail": detail}


def _normalise(detail: Any, status: int) -> dict[str, Any]:
    """An ``HTTPException.detail`` (a string, or a dict with field/message/fix) as the body."""
    if isinstance(detail, dict) and "message" in detail:
        return error_body(str(detail.get("field") or "request"), str(detail["message"]),
                          str(detail.get("fix") or ""))
    field = "path" if status == 404 else "request"
    return error_body(field, str(detail) if detail is not None else _DESCRIPTIONS.get(status, "error"))


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code in (204, 304) or exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=getattr(exc, "headers", None))
    return JSONResponse(_normalise(exc.detail, exc.status_code), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    errors = [{"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
               "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    loc = [str(p) for p in first["loc"] if p not in ("body", "query", "path", "header", "cookie")]
    body = error_body(".".join(loc) or "request", first["msg"].removeprefix("Value error, "),
                      f"see the API docs at {request.app.docs_url or '/docs'}", errors)
    return JSONResponse(body, status_code=422)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("server", "internal error: a bug in Scanflow, not in your request",
                                   "see the server's log, and report it"), status_code=500)


def install(app: FastAPI, *, docs_prefix: str = "", guard: Callable[..., None] = require_token,
            token: str | None = None) -> FastAPI:
    """Give ``app`` the shared error handlers, a documented OpenAPI and docs at
    ``{docs_prefix}/openapi.json``, ``/docs`` and ``/redoc`` that demand ``guard`` (the
    service's token dependency; ``token``: the token it enforces, if given explicitly).
    Create the app with ``docs_url=None, redoc_url=None, openapi_url=None``."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _crash)
    app.state.scanflow_explicit_token = token
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    _add_docs(app, docs_prefix, guard)
    return app


def token_in_force(app: FastAPI) -> str | None:
    """The token ``app``'s requests must carry (explicit, the server's, ``$SCANFLOW_TOKEN``), or None."""
    return (getattr(app.state, "scanflow_explicit_token", None)
            or getattr(app.state, "scanflow_token", None) or resolve_token())


def _add_docs(app: FastAPI, prefix: str, dependency: Callable[..., None]) -> None:
    schema_url = f"{prefix}/openapi.json"
    app.docs_url, app.openapi_url = f"{prefix}/docs", schema_url
    guard = [Depends(dependency)]

    @app.get(schema_url, include_in_schema=False, dependencies=guard)
    def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(f"{prefix}/docs", include_in_schema=False, dependencies=guard)
    def swagger(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=schema_url, title=f"{app.title} — API",
                                   swagger_ui_parameters={"persistAuthorization": True})
        remember_token(request, page)
        return page

    @app.get(f"{prefix}/redoc", include_in_schema=False, dependencies=guard)
    def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(openapi_url=schema_url, title=f"{app.title} — API")
        remember_token(request, page)
        return page


def add_openapi_hook(app: FastAPI, hook: Callable[[dict[str, Any]], Any]) -> None:
    """Let ``hook(schema)`` edit the OpenAPI document each time it is served (a document that
    follows live state, such as the served model's input; it is then not cached)."""
    app.state.openapi_hooks = [*getattr(app.state, "openapi_hooks", []), hook]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with :class:`ErrorBody` for every error and the token scheme."""
    hooks = getattr(app.state, "openapi_hooks", [])
    if hooks or app.openapi_schema is None or token_in_force(app) != getattr(app.state, "_openapi_token", None):
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        _document_errors(schema, protected=bool(token_in_force(app)))
        for hook in hooks:
            hook(schema)
        app.openapi_schema = schema
        app.state._openapi_token = token_in_force(app)
    return app.openapi_schema


def _document_errors(schema: dict[str, Any], protected: bool) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["ErrorBody"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            codes = ({"422"} | ({"404"} if "{" in path else set()) | ({"401"} if protected else set())
                     | ({"400"} if "requestBody" in operation else set()))  # a body that cannot be decoded
            for code in codes | {c for c in answers if c[:1] in "45"}:
                answers[code] = {"description": answers.get(code, {}).get("description")
                                 or _DESCRIPTIONS.get(int(code), "Error"), "content": ref}
    if protected:  # the schemes come from fastapi.security (scanflow.security)
        schema["security"] = [{"bearer": []}, {"header": []}]
    else:  # no token: the document claims no security it does not ask for
        schema["components"].pop("securitySchemes", None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.pop("security", None)
