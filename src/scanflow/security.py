"""Access control shared by every Scanflow web service.

The rule: a service binds ``127.0.0.1`` by default and then needs no token (only the people
logged on to the machine can reach it). Bound to any other address it must have a token,
given as ``token=`` or through the ``SCANFLOW_TOKEN`` environment variable;
:func:`check_bind` refuses to start otherwise.

A client presents the token in any of these ways (checked in constant time):

* ``Authorization: Bearer <token>`` or ``X-Scanflow-Token: <token>`` (scripts, the CLI, and
  the *Authorize* button of ``/docs``: both are ``fastapi.security`` schemes, so every
  guarded operation of the OpenAPI document names them),
* ``?token=<token>`` in the address, once: the answer sets a ``scanflow_token`` cookie
  (HttpOnly, SameSite=Strict) so the page's own requests carry it (browsers),
* that cookie.

Use it in an app or a router::

    from fastapi import Depends, FastAPI
    app = FastAPI(dependencies=[Depends(require_token)])              # reads SCANFLOW_TOKEN
    router = APIRouter(dependencies=[Depends(token_dependency("s3cret"))])  # explicit token

and start servers through :func:`serve` (or call :func:`check_bind` before ``uvicorn.run``).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from scanflow.errors import ScanflowError

__all__ = [
    "COOKIE_NAME",
    "TOKEN_ENV",
    "InsecureBindError",
    "check_bind",
    "is_loopback",
    "remember_token",
    "require_token",
    "resolve_token",
    "serve",
    "token_dependency",
]

TOKEN_ENV = "SCANFLOW_TOKEN"
COOKIE_NAME = "scanflow_token"
DEFAULT_HOST = "127.0.0.1"

# the two schemes of the OpenAPI document, "bearer" and "header"; optional (auto_error=False)
# since a loopback server without a token lets every request through
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description=f"the server's access token ({TOKEN_ENV})")
HEADER = APIKeyHeader(name="X-Scanflow-Token", auto_error=False, scheme_name="header",
                      description=f"the server's access token ({TOKEN_ENV})")


class InsecureBindError(ScanflowError, ValueError):
    """A service was asked to listen on a non-loopback address without a token."""


def resolve_token(token: str | None = None) -> str | None:
    """``token`` if given, else ``$SCANFLOW_TOKEN``, else None (no token: loopback only)."""
    if token:
        return token
    return os.environ.get(TOKEN_ENV) or None


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` and ``::1``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None = None) -> str | None:
    """Return the token in force for a server on ``host``; refuse a public bind without one.

    >>> check_bind("127.0.0.1") is None
    True
    >>> check_bind("0.0.0.0", "s3cret")
    's3cret'
    """
    token = resolve_token(token)
    if not is_loopback(host) and not token:
        raise InsecureBindError(
            f"host: binding to {host!r} exposes the service to the network without a token "
            f"(set {TOKEN_ENV}=<a long random string> or pass --token, or bind 127.0.0.1)"
        )
    return token


def _from_browser(request: Request) -> tuple[str | None, bool]:
    """The token a browser sent (``?token=`` once, then the cookie) and whether it came from
    the query string."""
    if request.query_params.get("token"):
        return request.query_params["token"], True
    return request.cookies.get(COOKIE_NAME), False


def token_dependency(token: str | None = None) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that demands ``token`` (or ``$SCANFLOW_TOKEN`` read per request).

    With neither set, every request passes: the server is expected on 127.0.0.1, which
    :func:`check_bind` enforces at start-up. The check never blocks, so it is a coroutine:
    FastAPI runs a plain function dependency in its thread pool, a thread hop per request
    that cost the serving path ~10 % of its CPU under 16 concurrent clients.
    """

    async def _require(request: Request, response: Response,
                 bearer: HTTPAuthorizationCredentials | None = Security(BEARER),
                 header: str | None = Security(HEADER)) -> None:
        expected = token or getattr(request.app.state, "scanflow_token", None) or resolve_token()
        if not expected:
            return
        sent, from_query = (bearer.credentials if bearer else header), False
        if not sent:
            sent, from_query = _from_browser(request)
        if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise HTTPException(
                status_code=401,
                detail={
                    "field": "token",
                    "message": "missing or wrong access token",
                    "fix": f"send 'Authorization: Bearer <token>' or open the page with "
                    f"?token=<token> (the server's {TOKEN_ENV})",
                },
                headers={"WWW-Authenticate": "Bearer"},
            )
        if from_query:
            response.set_cookie(COOKIE_NAME, sent, httponly=True, samesite="strict")

    return _require


def remember_token(request: Request, response: Response) -> None:
    """Set the token cookie on a page ``response`` the handler builds itself (FastAPI only
    copies the dependency's cookie onto responses it builds from returned values)."""
    sent, from_query = _from_browser(request)
    if sent and from_query:
        response.set_cookie(COOKIE_NAME, sent, httponly=True, samesite="strict")


#: The dependency every service uses when no explicit token is configured.
require_token = token_dependency(None)


def serve(
    app,
    *,
    host: str = DEFAULT_HOST,
    port: int = 8000,
    token: str | None = None,
    log_level: str = "info",
) -> None:
    """Run ``app`` with uvicorn after :func:`check_bind`; the token in force is stored on
    ``app.state.scanflow_token`` so :func:`require_token` enforces it."""
    # lazy: uvicorn, only serving needs it
    import uvicorn

    app.state.scanflow_token = check_bind(host, token)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
