"""Colours and shapes shared by the DOT and Mermaid renderers."""

from __future__ import annotations

# fill, border. Statuses are the scheduler's (succeeded/failed/timeout/cancelled) plus the
# dashboard's live ones (pending/running/retrying/cached/skipped).
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "pending": ("#f1f3f5", "#868e96"),
    "running": ("#fff3bf", "#f08c00"),
    "retrying": ("#ffe8cc", "#e8590c"),
    "succeeded": ("#d3f9d8", "#2b8a3e"),
    "cached": ("#d0ebff", "#1864ab"),
    "skipped": ("#e9ecef", "#adb5bd"),
    "failed": ("#ffc9c9", "#c92a2a"),
    "timeout": ("#ffd8a8", "#d9480f"),
    "cancelled": ("#e9ecef", "#495057"),
}
UNKNOWN_STATUS = ("#f8f0fc", "#862e9c")

KIND_COLOURS: dict[str, tuple[str, str]] = {
    "executor": ("#ffffff", "#495057"),
    "workflow": ("#f8f9fa", "#adb5bd"),
    "service": ("#e6fcf5", "#087f5b"),
    "agent": ("#f3f0ff", "#5f3dc4"),
}


def colours(kind: str, status: str | None) -> tuple[str, str]:
    """(fill, border) of a node: its status colour when it has one, else its kind colour."""
    if status:
        return STATUS_COLOURS.get(status.lower(), UNKNOWN_STATUS)
    return KIND_COLOURS.get(kind, KIND_COLOURS["executor"])
