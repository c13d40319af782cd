"""``scanflow serve APP --backend ray``: the prediction API as Ray Serve replicas, one endpoint.

Parses nothing itself (``scanflow serve`` does): resolves the settings, deploys the replicas
with :func:`scanflow.serve.ray_serving.serve_replicas`, prints where they answer, and serves
until Ctrl-C, then deletes the Serve application (and stops the Ray it started).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .common import console, fail


def serve_on_ray(application: Any, *, model: str | None, alias: str | None, detector: Path | None,
                 window: int | None, poll_every: float, host: str, port: int, token: str | None,
                 state_url: str | None, replicas: int | None, address: str | None,
                 trusted_types: tuple[str, ...], trusted_architectures: tuple[str, ...],
                 allow_pickle: bool) -> None:
    """Serve until interrupted (see the module docstring)."""
    try:
        # lazy: Ray Serve is an extra, loaded only by this backend
        from scanflow.serve.ray_serving import serve_replicas
        from scanflow.serve.replica_app import replica_settings
    except ImportError as exc:
        fail(f"--backend ray needs Ray Serve ({exc}): pip install 'scanflow[ray]'")
    try:
        settings = replica_settings(
            application, model_name=model, alias=alias, detector_path=detector, window=window,
            poll_interval=poll_every, state_url=state_url, token=token, replicas=replicas,
            trusted_types=trusted_types, trusted_architectures=trusted_architectures,
            allow_pickle=allow_pickle)
    except (ValueError, FileNotFoundError) as exc:
        fail(exc)
    console.print(f"Starting {settings.replicas} replica(s) of [bold]{settings.model}@{settings.alias}[/] "
                  f"of {application.name} on Ray Serve{f' at {address}' if address else ''}...")
    service = serve_replicas(settings, host=host, port=port, address=address)
    try:
        base = service.url
        console.print(f"  prediction API  [cyan]{base}/predict[/]   docs [cyan]{base}/docs[/]")
        console.print(f"  replicas        [cyan]{base}/replicas[/]   (the drift window of all "
                      f"replicas: [cyan]{base}/drift[/])")
        console.print("  the dashboard and labeling UI are not replicated: run `scanflow serve APP` "
                      "(local backend) beside it for them")
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        console.print("stopping the replicas")
    finally:
        service.shutdown()
