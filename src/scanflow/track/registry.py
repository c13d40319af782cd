"""Model registry helpers with aliases (``champion``, ``challenger``), never the old stages.

``promote(name, version)`` moves the ``champion`` alias to ``version`` and remembers the
version it replaces: as the alias ``previous-champion``, in the registered model's tag
``scanflow.previous.champion``, and in a history (tag ``scanflow.history.champion``) so that
``rollback(name)`` can step back more than once.
"""

from __future__ import annotations

import json
from typing import Any

from .store import get_client, registry_uri, tracking_uri


def _client(client=None):
    return client or get_client(tracking_uri(), registry_uri())


def _ensure_registered_model(name: str, client) -> None:
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name)
        except MlflowException:  # created meanwhile
            client.get_registered_model(name)


def resolve_source(model_uri: str, client=None) -> tuple[str, str | None]:
    """``runs:/<id>/<path>`` -> (artifact URI, run id); anything else is returned unchanged."""
    client = _client(client)
    if model_uri.startswith("runs:/"):
        run_id, _, path = model_uri[len("runs:/"):].partition("/")
        base = client.get_run(run_id).info.artifact_uri.rstrip("/")
        return (f"{base}/{path}" if path else base), run_id
    return model_uri, None


def register_model(model_uri: str, name: str, tags: dict[str, Any] | None = None,
                   description: str | None = None, client=None) -> int:
    """Register the model at ``model_uri`` (``runs:/RUN/PATH`` or an artifact URI); return its version."""
    client = _client(client)
    _ensure_registered_model(name, client)
    source, run_id = resolve_source(model_uri, client)
    version = client.create_model_version(name, source, run_id=run_id,
                                          tags={k: str(v) for k, v in (tags or {}).items()},
                                          description=description)
    return int(version.version)


def resolve_model_uri(model_uri_or_name: str, alias: str | None = None,
                      version: int | str | None = None, client=None) -> str:
    """The artifact URI of ``name`` + ``alias``/``version``, ``models:/name@alias``,
    ``models:/name/3`` or ``runs:/RUN/path``; an artifact URI or a local path is returned as is."""
    client = _client(client)
    target = model_uri_or_name
    if alias is not None or version is not None:
        target = f"models:/{target}@{alias}" if alias is not None else f"models:/{target}/{version}"
    if target.startswith("models:/"):
        spec = target[len("models:/"):]
        if "@" in spec:
            name, _, al = spec.partition("@")
            return client.get_model_version_by_alias(name, al).source
        name, _, ver = spec.rpartition("/")
        return client.get_model_version(name, ver).source
    return resolve_source(target, client)[0]


def set_alias(name: str, alias: str, version: int | str, client=None) -> None:
    _client(client).set_registered_model_alias(name, alias, str(version))


def get_alias_version(name: str, alias: str, client=None) -> int | None:
    """The version that ``alias`` points to, or ``None``."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.exceptions import MlflowException

    try:
        return int(_client(client).get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _history(name: str, alias: str, client) -> list[int]:
    tags = client.get_registered_model(name).tags or {}
    try:
        return [int(v) for v in json.loads(tags.get(f"scanflow.history.{alias}", "[]"))]
    except ValueError:
        return []


def promote(name: str, version: int | str, alias: str = "champion", client=None) -> int | None:
    """Point ``alias`` at ``version``; return the version it pointed to before (or ``None``)."""
    client = _client(client)
    version = int(version)
    previous = get_alias_version(name, alias, client)
    if previous == version:
        return previous
    client.set_registered_model_alias(name, alias, str(version))
    client.set_model_version_tag(name, str(version), "scanflow.promoted_to", alias)
    if previous is not None:
        history = [*_history(name, alias, client), previous][-20:]
        client.set_registered_model_alias(name, f"previous-{alias}", str(previous))
        client.set_registered_model_tag(name, f"scanflow.previous.{alias}", str(previous))
        client.set_registered_model_tag(name, f"scanflow.history.{alias}", json.dumps(history))
    return previous


def rollback(name: str, alias: str = "champion", client=None) -> int:
    """Move ``alias`` back to the version it had before the last :func:`promote`; return it."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.exceptions import MlflowException

    client = _client(client)
    history = _history(name, alias, client)
    if not history:
        raise LookupError(f"model {name!r} has no previous {alias!r} to roll back to")
    target = history.pop()
    current = get_alias_version(name, alias, client)
    client.set_registered_model_alias(name, alias, str(target))
    client.set_registered_model_tag(name, f"scanflow.history.{alias}", json.dumps(history))
    if current is not None:
        client.set_model_version_tag(name, str(current), "scanflow.rolled_back_from", alias)
    if history:
        client.set_registered_model_alias(name, f"previous-{alias}", str(history[-1]))
        client.set_registered_model_tag(name, f"scanflow.previous.{alias}", str(history[-1]))
    else:
        try:
            client.delete_registered_model_alias(name, f"previous-{alias}")
        except MlflowException:
            pass
        client.delete_registered_model_tag(name, f"scanflow.previous.{alias}")
    return target


class MlflowRegistry:
    """The model registry as the agents use it (:class:`scanflow.agents.services.Registry`):
    the champion alias, promotion, rollback and versions found by tag, on one MLflow client."""

    def __init__(self, client=None):
        self.client = _client(client)

    def champion_version(self, model: str) -> str | None:
        version = get_alias_version(model, "champion", self.client)
        return None if version is None else str(version)

    def promote(self, model: str, version: int | str) -> str | None:
        previous = promote(model, version, client=self.client)
        return None if previous is None else str(previous)

    def rollback(self, model: str) -> str:
        return str(rollback(model, client=self.client))

    def versions_tagged(self, key: str, value: str) -> list[Any]:
        """Model versions (of any model) whose tag ``key`` is ``value``, newest first."""
        found = self.client.search_model_versions(f"tags.`{key}` = '{value}'")
        return sorted(found, key=lambda v: int(v.version), reverse=True)

    def set_tag(self, model: str, version: int | str, key: str, value: Any) -> None:
        self.client.set_model_version_tag(model, str(version), key, str(value))
