"""Typed messages between agents: one pydantic payload model per message kind.

A message is ``(key, sender, recipient, kind, payload)``. The ``key`` is its idempotency key:
the outbox stores one message per key, so an agent that re-sends after a crash sends nothing new.
Known kinds validate their payload on the way in (:func:`validate_payload`); an application may
register its own kinds with :func:`message_type`, and unregistered kinds carry plain JSON.

>>> validate_payload("labels.ready", {"n_labeled": 20, "total_labeled": 60})["batch"] is None
True
>>> validate_payload("labels.ready", {"n_labeled": "many"})
Traceback (most recent call last):
...
ValueError: payload of message 'labels.ready' is invalid: n_labeled: Input should be a valid integer, unable to parse string as an integer
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ApprovalDecided",
    "CheckReport",
    "LabelsReady",
    "MESSAGE_TYPES",
    "ModelCandidate",
    "ModelPromoted",
    "ModelRejected",
    "EpisodeAdapted",
    "PredictionsBatch",
    "RunsFinished",
    "SensorEvent",
    "message_type",
    "validate_payload",
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


MESSAGE_TYPES: dict[str, type[BaseModel]] = {}


def message_type(kind: str):
    """Register ``cls`` as the payload model of messages of ``kind`` (a class decorator)."""
    def register(cls: type[BaseModel]) -> type[BaseModel]:
        MESSAGE_TYPES[kind] = cls
        cls.kind = kind  # type: ignore[attr-defined]
        return cls
    return register


def validate_payload(kind: str, payload: dict[str, Any] | BaseModel | None) -> dict[str, Any]:
    """The payload as JSON data, checked against the model registered for ``kind`` (if any)."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    payload = dict(payload or {})
    model = MESSAGE_TYPES.get(kind)
    if model is None:
        return payload
    try:
        return model.model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"payload of message {kind!r} is invalid: {problems}") from None


class SensorEvent(Payload):
    """What a sensor reports to its own agent (kind ``sensor.<sensor name>``)."""

    sensor: str
    forced: bool = False
    time: float


@message_type("predictions.batch")
class PredictionsBatch(Payload):
    """New predictions (ids ``first_id..last_id``) and counts over the tracker's window."""

    first_id: int
    last_id: int
    count: int
    window: dict[str, Any] = Field(default_factory=dict)
    service: str | None = Field(None, description="only this service's predictions in the range")


@message_type("runs.finished")
class RunsFinished(Payload):
    """New finished MLflow runs of a supervised experiment."""

    experiment: str
    runs: list[dict[str, Any]] = Field(default_factory=list)


@message_type("check.report")
class CheckReport(Payload):
    """What the checker found in a batch of new data."""

    first_id: int
    last_id: int
    n_samples: int
    n_flagged: int
    fraction: float
    is_drift: bool
    p_value: float | None = None
    threshold: float | None = None
    detector: str = ""
    selected_ids: list[int] = Field(default_factory=list)
    label_batch: str | None = None
    episode: int | None = None
    episode_status: str | None = None
    pool_size: int = 0


@message_type("labels.ready")
class LabelsReady(Payload):
    """A labeling batch was finished (or enough labels arrived)."""

    batch: str | None = None
    n_labeled: int
    total_labeled: int = 0


@message_type("model.candidate")
class ModelCandidate(Payload):
    """An improved model proposed by the improver, for the planner's evaluation gate."""

    model: str
    version: str | int | None = None
    strategy: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    baseline_metrics: dict[str, float] = Field(default_factory=dict)
    run_id: str | None = None
    episode: int | None = None
    round: int | None = None
    final: bool = False
    zero_label: bool = False
    notify: list[str] = Field(default_factory=list)
    labels: dict[str, int] = Field(default_factory=dict)
    needs_approval: bool = False


@message_type("model.promoted")
class ModelPromoted(Payload):
    """The planner moved the champion alias (promotion or rollback)."""

    model: str
    version: str | int | None = None
    previous_version: str | int | None = None
    rollback: bool = False
    episode: int | None = None
    final: bool = False


@message_type("model.rejected")
class ModelRejected(Payload):
    """The planner kept the champion: the candidate did not pass the gate (or a person said no)."""

    model: str
    version: str | int | None = None
    reason: str = ""
    episode: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    baseline_metrics: dict[str, float] = Field(default_factory=dict)


@message_type("episode.adapted")
class EpisodeAdapted(Payload):
    """The improver found the champion already handles the episode's shift: settle it as is."""

    episode: int
    model: str
    reason: str = ""


@message_type("episode.exhausted")
class EpisodeExhausted(Payload):
    """The improver spent the episode's label budget without a final model: settle it with the
    best model it has (no more labels), and leave it to a person to look (``reason`` says why)."""

    episode: int
    model: str
    reason: str = ""


@message_type("approval.decided")
class ApprovalDecided(Payload):
    """A person approved or rejected what an agent asked for."""

    approval_id: int
    approved: bool
    by: str = ""
    note: str = ""
    subject: dict[str, Any] = Field(default_factory=dict)
    request_key: str = ""
