"""How the ``ray`` backend's driver joins a running Ray cluster, or says at once why it cannot.

Two kinds of address::

    HOST:PORT          the cluster's GCS (``ray start --head --port PORT``); the driver must run
                       on a machine of the cluster (one that ran ``ray start``)
    ray://HOST:PORT    Ray Client (``--ray-client-server-port``, 10001 by default): from anywhere

``ray.init`` never says "nothing is there": it retries for up to a minute and ends with a
generic error. So :func:`plan_join` first checks, in a few seconds, that something answers at
the address and, for ``HOST:PORT``, that a Ray node of that cluster runs on this machine, and
raises :class:`RayConnectionError` naming the address and the fix.

It then reads how this machine's Ray node (its raylet process) reaches the cluster, and has
the driver join the same way (:func:`joining`): the same GCS address and the same node IP
(``ray.init``'s ``_node_ip_address``). That matters on loopback: Ray rewrites a loopback host
(``127.0.0.1``, ``localhost``) in the address and in ``_node_ip_address`` to the machine's
outward IP, so a head whose node IP is loopback (a ``ray.cluster_utils`` test cluster, some Ray
versions' ``ray start --node-ip-address 127.0.0.1``) is never found; :func:`keeping_loopback`
switches that rewrite off while ``ray.init`` runs. It also turns Ray's token authentication on
as ``address="auto"`` would (Ray does it for no address it is given). Ray is imported only
there: the rest is plain sockets and process listings.

>>> split_address("ray://head.example.com:10001")
('head.example.com', 10001)
>>> split_address("[::1]:6379")
('::1', 6379)
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from scanflow.errors import ScanflowError

CONNECT_TIMEOUT = 3.0  # seconds a TCP connect to the address may take before it counts as down
CLIENT_PREFIX = "ray://"
DEFAULT_PORTS = {"gcs": 6379, "client": 10001}

START_HEAD = ("start the head with `ray start --head --port PORT` (add --node-ip-address IP for "
              "an interface other machines can reach), or check the host and port")
START_CLIENT = ("start the head with Ray Client enabled (`ray start --head` listens on 10001; "
                "--ray-client-server-port PORT for another port; on KubeRay port-forward the head "
                "service's 10001), or check the host and port")


class RayConnectionError(ScanflowError, ConnectionError):
    """The Ray cluster at the given address cannot be reached or joined from this machine."""


@dataclass(frozen=True)
class Join:
    """How ``ray.init`` joins: the address it gets, the node IP it claims, whether Ray must
    leave a loopback host as it is, and whether the cluster has a node on this machine (then
    it is joined as ``address="auto"`` would, Ray's token authentication included)."""

    address: str
    node_ip: str | None = None
    keep_loopback: bool = False
    on_this_machine: bool = False

    def init_kwargs(self) -> dict[str, Any]:
        return {"_node_ip_address": self.node_ip} if self.node_ip else {}


def cluster_address(address: str | None) -> str | None:
    """The cluster to join: ``address``, else ``$RAY_ADDRESS``; ``None``: start Ray here."""
    return address or os.environ.get("RAY_ADDRESS") or None


def split_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``, ``ray://HOST[:PORT]`` or ``[IPv6]:PORT``."""
    client = address.startswith(CLIENT_PREFIX)
    rest = address[len(CLIENT_PREFIX):] if client else address
    rest = rest.split("/", 1)[0]
    default = DEFAULT_PORTS["client" if client else "gcs"]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:
        host, port = rest, ""
    if not host or (port and not port.isdigit()):
        raise RayConnectionError(f"bad Ray address {address!r}: use HOST:PORT, or ray://HOST:PORT for Ray Client")
    return host, int(port) if port else default


def plan_join(address: str, timeout: float = CONNECT_TIMEOUT) -> Join:
    """How to join the cluster at ``address`` from this machine; raises
    :class:`RayConnectionError` when nothing answers there, or when this machine is not one of
    its nodes (``HOST:PORT`` and ``"auto"``, the cluster of this machine's Ray node)."""
    if address == "auto":
        return _join_this_machines_cluster()
    host, port = split_address(address)
    client = address.startswith(CLIENT_PREFIX)
    if not listening(host, port, timeout):
        kind = "Ray Client server" if client else "Ray cluster (GCS)"
        raise RayConnectionError(
            f"cannot reach the {kind} at {address}: nothing answered on {host}:{port} within "
            f"{timeout:g} s. Fix: {START_CLIENT if client else START_HEAD}")
    if client:
        return Join(address)
    raylets = local_raylets()
    ours = [(gcs, ip) for gcs, ip in raylets if gcs and _port(gcs) == port]
    ours.sort(key=lambda r: split_address(r[0])[0] != host)  # one that names the same host first
    if ours:
        return _as_raylet(*ours[0])
    if not raylets:
        raise RayConnectionError(
            f"the Ray cluster at {address} answers, but no Ray node runs on this machine: a driver "
            f"joins with HOST:PORT only from a machine of the cluster. Fix: run `ray start "
            f"--address {address}` here first, or connect through Ray Client "
            f"(--address ray://{host}:{DEFAULT_PORTS['client']})")
    # Ray nodes run here but none says it belongs to that cluster (or their flags moved):
    # join as the address says and let Ray decide.
    local = is_local(host)
    return Join(address, host if local else None, local and is_loopback(host), local)


def _join_this_machines_cluster() -> Join:
    """``"auto"``: the cluster whose Ray node runs here (Ray picks when there are several)."""
    clusters = {gcs: ip for gcs, ip in local_raylets() if gcs}
    if not clusters:
        raise RayConnectionError(
            "--address auto joins the cluster of this machine's Ray node, but no Ray node runs "
            "here. Fix: run `ray start --head` (or `ray start --address HEAD:PORT`) first, or give "
            "the cluster's address (ray://HOST:10001 from outside it)")
    return _as_raylet(*next(iter(clusters.items()))) if len(clusters) == 1 else Join("auto", on_this_machine=True)


def _as_raylet(gcs: str, node_ip: str | None) -> Join:
    """Join as a raylet of this machine does: its GCS address and its node IP, kept as they
    are when they are loopback."""
    return Join(gcs, node_ip, is_loopback(split_address(gcs)[0]) or is_loopback(node_ip or ""), True)


def _port(address: str) -> int | None:
    try:
        return split_address(address)[1]
    except RayConnectionError:
        return None


def listening(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def local_raylets() -> list[tuple[str | None, str | None]]:
    """``(gcs address, node IP)`` of every Ray node (raylet process) on this machine, read from
    its command line (``None`` where a flag is missing)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            name, argv = proc.info["name"], proc.info["cmdline"] or []
        except (psutil.Error, KeyError):
            continue
        if name != "raylet" and not (argv and os.path.basename(argv[0]) == "raylet"):
            continue
        flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
        found.append((flags.get("gcs-address") or flags.get("gcs_address"),
                      flags.get("node_ip_address") or flags.get("node-ip-address")))
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local(host: str) -> bool:
    """Whether ``host`` is an address of this machine (one a socket can bind to)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, _, _, _, sockaddr in infos:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((sockaddr[0], 0))
                return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def joining(join: Join) -> Iterator[None]:
    """What ``ray.init`` needs around it to make ``join``: see :class:`Join`."""
    if join.on_this_machine:
        _token_auth_as_for_auto()
    with keeping_loopback(join.keep_loopback):
        yield


def _token_auth_as_for_auto() -> None:
    """Turn Ray's token authentication on when ``RAY_AUTH_MODE`` is unset and a token is here,
    as ``ray.init(address="auto")`` does. Ray does it for no explicit address, which may be
    anyone's; one whose cluster has a node on this machine is the one "auto" would find."""
    try:
        # lazy: Ray is an extra, imported only when the driver joins
        from ray._private.authentication import authentication_token_setup as setup
    except ImportError:  # a Ray without token authentication
        return
    log = logging.getLogger(setup.__name__)
    level = log.level
    log.setLevel(logging.ERROR)  # its "token authentication is enabled" warning: not news here
    try:
        setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def keeping_loopback(keep: bool) -> Iterator[None]:
    """While it lasts, Ray leaves a loopback host in ``ray.init``'s address and
    ``_node_ip_address`` as it is (when ``keep``); see the module's docstring."""
    services = None
    if keep:
        import ray._private.services as services  # lazy: only this needs Ray

    original = getattr(services, "resolve_ip_for_localhost", None)
    if original is None:  # not asked, or a Ray without the rewrite
        yield
        return
    services.resolve_ip_for_localhost = lambda host: host
    try:
        yield
    finally:
        services.resolve_ip_for_localhost = original


def failed_join(address: str, exc: BaseException) -> RayConnectionError:
    """The error for a ``ray.init`` that failed after :func:`plan_join` found the cluster: the
    first line of each error in the chain, and the line that says authentication failed (Ray
    buries it in a traceback inside the message)."""
    chain, e = [], exc
    while e is not None and len(chain) < 5:
        chain.append(e)
        e = e.__cause__ or e.__context__
    lines = [f"{type(c).__name__}: {str(c).strip().splitlines()[0] if str(c).strip() else ''}" for c in chain]
    text = " <- ".join(line.removesuffix("Traceback (most recent call last):").strip() for line in lines)
    every_line = [line.strip() for c in chain for line in str(c).splitlines()]
    auth = next((line for line in every_line if "AuthToken" in line or "AuthenticationError" in line), None)
    if auth:
        fix = ("the cluster uses token authentication: set RAY_AUTH_MODE=token and give its token "
               "(RAY_AUTH_TOKEN, or the file ~/.ray/auth_token)")
        text += f"; {auth[:300]}"
    else:
        fix = "check that this machine runs the same Ray (and Python) version as the cluster"
    return RayConnectionError(f"could not join the Ray cluster at {address} ({text}). Fix: {fix}")
