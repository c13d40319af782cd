"""The prediction service as N replicas on Ray Serve, behind one HTTP endpoint.

:func:`serve_replicas` deploys two Ray Serve deployments in one Serve application:

* ``PredictionReplica`` × N: each builds the same FastAPI prediction app as a single server
  (:func:`scanflow.serve.replica_app.build_replica_app`: same routes, schemas, errors, inline
  checks), loads the champion from the MLflow registry and follows the alias on its own, so a
  promotion reaches every replica within ``poll_interval`` seconds, each swapping atomically
  (no request fails);
* ``DriftAggregate`` × 1: the drift window of all replicas
  (:mod:`scanflow.serve.drift_aggregate`); ``GET /drift`` on any replica reports it and ``GET
  /replicas`` adds what each replica serves and how many samples it fed.

Ray Serve's HTTP proxy is the one endpoint; it runs on the head node only and binds
``127.0.0.1`` unless told otherwise (anything else needs a token, as for a single server).
From Python::

    from scanflow.serve.ray_serving import serve_replicas
    from scanflow.serve.replica_app import replica_settings

    with serve_replicas(replica_settings(app), replicas=2, port=8000) as service:
        httpx.post(service.url + "/predict", json={"record": {...}})
        service.status()["replicas"]          # per replica: model version, requests, samples

From the command line: ``scanflow serve APP --backend ray --replicas 2 [--address ray://...]``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any

from .replica_app import ReplicaSettings, build_replica_app

log = logging.getLogger(__name__)

__all__ = ["ReplicatedService", "serve_replicas"]

AGGREGATE = "DriftAggregate"
REPLICA = "PredictionReplica"


def _init_ray(address: str | None) -> bool:
    """Connect to ``address`` or start a local Ray on loopback; True when this call started it."""
    import ray  # lazy: Ray is an extra (`pip install scanflow[ray]`)

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:  # "local": never join a cluster another process started on this machine
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
    return True


def _deployments(settings: ReplicaSettings, max_ongoing_requests: int) -> Any:
    """The Serve application: N prediction replicas bound to one drift aggregate."""
    from ray import serve  # lazy: Ray Serve is an extra (`pip install scanflow[ray]`)

    from .drift_aggregate import DriftAggregate

    @serve.ingress()  # the app is built in each replica, from the settings
    class PredictionReplica:
        def __init__(self, settings: ReplicaSettings, aggregate: Any):
            self.settings, self.aggregate = settings, aggregate

        def _call(self, method: str, *args: Any) -> Any:
            return getattr(self.aggregate, method).remote(*args).result(timeout_s=60)

        def __serve_build_asgi_app__(self):
            replica = serve.get_replica_context().replica_id.unique_id
            return build_replica_app(self.settings, self._call, replica)

    aggregate = serve.deployment(DriftAggregate, name=AGGREGATE, num_replicas=1,
                                 ray_actor_options={"num_cpus": 0})
    replica = serve.deployment(PredictionReplica, name=REPLICA, num_replicas=settings.replicas,
                               max_ongoing_requests=max_ongoing_requests,
                               ray_actor_options={"num_cpus": settings.replica_cpus})
    aggregate_app = aggregate.bind(detector_path=settings.detector_path,
                                   window=max(2, settings.window), poll_interval=settings.poll_interval)
    return replica.bind(settings, aggregate_app)


class ReplicatedService:
    """A running replicated prediction service: its ``url``, status, and :meth:`shutdown`."""

    def __init__(self, name: str, url: str, settings: ReplicaSettings, owns_ray: bool):
        self.name = name
        self.url = url
        self.settings = settings
        self._owns_ray = owns_ray

    def _aggregate(self) -> Any:
        from ray import serve  # lazy: Ray Serve is an extra

        return serve.get_deployment_handle(AGGREGATE, app_name=self.name)

    def status(self) -> dict[str, Any]:
        """The aggregate drift window and each replica's last report (as ``GET /replicas``)."""
        return _blocking(lambda: self._aggregate().status.remote().result(timeout_s=60))

    def flush(self) -> int:
        """Run the drift check of every complete window of the aggregate now."""
        return _blocking(lambda: self._aggregate().flush.remote().result(timeout_s=120))

    def wait_for(self, predicate, timeout: float = 60.0, every: float = 0.2) -> dict[str, Any]:
        """Poll :meth:`status` until ``predicate(status)`` holds; the last status (TimeoutError
        after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas did not reach the expected state in {timeout:.0f}s: {status}")
            time.sleep(every)

    def shutdown(self) -> None:
        """Delete the Serve application; stop Serve and Ray when :func:`serve_replicas` started Ray."""
        import ray  # lazy: Ray is an extra
        from ray import serve

        if not ray.is_initialized():
            return
        try:
            serve.delete(self.name)
        finally:
            if self._owns_ray:
                serve.shutdown()
                ray.shutdown()

    def __enter__(self) -> ReplicatedService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_replicas(settings: ReplicaSettings, *, replicas: int | None = None, host: str = "127.0.0.1",
                   port: int = 8000, address: str | None = None, name: str = "scanflow-predict",
                   max_ongoing_requests: int = 64) -> ReplicatedService:
    """Deploy the prediction service as ``replicas`` (default ``settings.replicas``) Ray Serve
    replicas behind one endpoint on ``host:port``; returns once every replica is up.

    ``address``: a Ray cluster to join (``ray://head:10001``, ``auto``); default: the Ray this
    process already runs, else a new local one on 127.0.0.1 (no dashboard). Binding anything
    but loopback needs ``settings.token`` or ``$SCANFLOW_TOKEN``
    (:class:`~scanflow.security.InsecureBindError` otherwise).
    """
    from ray import serve  # lazy: Ray Serve is an extra (`pip install scanflow[ray]`)

    from scanflow.security import check_bind

    if replicas is not None:
        settings.replicas = replicas
    if settings.replicas < 1:
        raise ValueError(f"replicas={settings.replicas}: serve at least 1 replica")
    settings.token = check_bind(host, settings.token)
    owns_ray = _init_ray(address)
    try:
        # One proxy, on the head node: on a one-machine cluster, a proxy per node would fight
        # over the port; clients reach the replicas of every node through it.
        serve.start(proxy_location="HeadOnly", http_options={"host": host, "port": port})
        serve.run(_deployments(settings, max_ongoing_requests), name=name, route_prefix="/",
                  blocking=False)
    except BaseException:
        if owns_ray:
            serve.shutdown()
            import ray  # lazy: Ray is an extra

            ray.shutdown()
        raise
    return ReplicatedService(name, f"http://{host}:{port}", settings, owns_ray)


def _blocking(call: Callable[[], Any]) -> Any:
    """``call()``, which blocks on a Ray Serve response: in a worker thread when this thread
    runs an asyncio loop (Jupyter, a sync Playwright session), where Ray refuses to block."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()
