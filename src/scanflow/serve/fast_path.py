"""The hot route without the framework's per-request machinery: ``POST /predict`` answered by an
ASGI middleware on a micro-batched service.

With concurrent requests sharing one forward pass, the serving process is bound by its event
loop, and the profile of ``benchmarks/serve_throughput.py`` (py-spy, 16 clients) put about half of
the loop's time in FastAPI's routing, dependency solving and response-model validation rather
than in the request's own work. :class:`PredictFastPath` takes a well-formed request (JSON body,
no token in force, a micro-batched service) and runs the very function the FastAPI route runs
(:func:`~scanflow.serve.predict.answer_batched`), validating the body with the same
:class:`~scanflow.serve.schemas.PredictRequest` and writing the same
:class:`~scanflow.serve.schemas.PredictResponse`.

Everything else goes to the app unchanged: other routes and methods, a service that predicts one
request at a time, a token to check, and any request the fast path cannot answer (a body that
does not validate, a refused input, no model yet). Such a request's body is replayed to FastAPI,
which answers it with its usual error: nothing was predicted or recorded before the failure, so
trying again is safe. Middleware added to the app later (e.g. a replica's response header) still
wraps this one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from scanflow.webapi import token_in_force

from .schemas import PredictRequest, PredictResponse

__all__ = ["PredictFastPath"]

Answer = Callable[[Any, PredictRequest], Awaitable[PredictResponse]]
_HEADERS = [(b"content-type", b"application/json")]


class PredictFastPath:
    """ASGI middleware: ``POST {path}`` answered by ``answer(service, request)`` when it can be."""

    def __init__(self, app: Any, *, service: Any, answer: Answer, path: str = "/predict"):
        self.app, self.service, self.answer, self.path = app, service, answer, path

    def _takes(self, scope: dict[str, Any]) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            return False
        if getattr(self.service, "batcher", None) is None:  # one by one: the forward pass dominates
            return False
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        return content_type.split(b";")[0].strip() == b"application/json" and not token_in_force(scope["app"])

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if not self._takes(scope):
            return await self.app(scope, receive, send)
        body, message = await _read_body(receive)
        if message is not None:  # the client left before its body was read
            return await self.app(scope, _replay(b"", receive, first=message), send)
        try:
            req = PredictRequest.model_validate_json(body)
            payload = (await self.answer(self.service, req)).model_dump_json().encode()
        except Exception:  # noqa: BLE001 -- FastAPI answers it, with its own error response
            return await self.app(scope, _replay(body, receive), send)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Callable) -> tuple[bytes, dict | None]:
    """The whole request body, or the message that ended it early (``http.disconnect``)."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), message
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), None


def _replay(body: bytes, receive: Callable, first: dict | None = None) -> Callable:
    """A ``receive`` that yields ``body`` once (or ``first``), then the connection's own messages."""
    pending = [first or {"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()

    return replayed
