"""Approval requests: an agent asks a person, the person's answer goes back as a message.

The answer and the message that tells the asking agent are one commit, made before the person
is told "done" (a human's answer is never lost)::

    >>> requests = Approvals("sqlite://")
    >>> req = requests.request_approval("promote/3", "planner", {"version": 3}, "gate passed")
    >>> requests.decide_approval(req.id, True, by="ana").status
    'approved'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from scanflow.storage import Store

from .tables import approvals, insert_message, jsonable

__all__ = ["ApprovalRecord", "Approvals"]


@dataclass
class ApprovalRecord:
    id: int
    key: str
    agent: str
    subject: dict[str, Any]
    reason: str
    status: str
    requested_at: float
    decided_at: float | None
    decided_by: str | None
    note: str | None


def _record(row: Any) -> ApprovalRecord:
    return ApprovalRecord(**dict(row._mapping))


class Approvals(Store):
    """Requests for a person's approval (``pending`` -> ``approved`` | ``rejected``).

    Args:
        url_or_db: the state database's URL, or the :class:`~scanflow.storage.Database` of
            another store on it.
    """

    url_setting = "state_url"

    def request_approval(self, key: str, agent: str, subject: dict[str, Any],
                         reason: str) -> ApprovalRecord:
        """Ask once per ``key``; returns the stored request (the first one)."""
        def fn(conn):
            row = conn.execute(select(approvals).where(approvals.c.key == key)).first()
            if row is None:
                conn.execute(insert(approvals).values(
                    key=key, agent=agent, subject=jsonable(subject, "approval subject"),
                    reason=reason, status="pending", requested_at=time.time()))
                row = conn.execute(select(approvals).where(approvals.c.key == key)).one()
            return _record(row)
        return self._write(fn)

    def approval(self, approval_id: int) -> ApprovalRecord | None:
        """The request with this id, if any."""
        q = select(approvals).where(approvals.c.id == approval_id)
        row = self._read(lambda c: c.execute(q).first())
        return _record(row) if row else None

    def approvals(self, status: str | None = None, agent: str | None = None) -> list[ApprovalRecord]:
        """Every request (with ``status``, of ``agent``), oldest first."""
        q = select(approvals).order_by(approvals.c.id)
        if status:
            q = q.where(approvals.c.status == status)
        if agent:
            q = q.where(approvals.c.agent == agent)
        return self._read(lambda c: [_record(r) for r in c.execute(q)])

    def decide_approval(self, approval_id: int, approved: bool, by: str = "",
                        note: str = "") -> ApprovalRecord:
        """Record a person's answer and tell the asking agent, in one commit (before replying)."""
        def fn(conn):
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id)
                               .with_for_update()).first()
            if row is None:
                raise KeyError(f"no approval request #{approval_id}: list them with "
                               "`scanflow agents approvals APP`")
            if row.status != "pending":
                raise ValueError(f"approval #{approval_id} was already {row.status} "
                                 f"by {row.decided_by or 'someone'}; nothing changed")
            status = "approved" if approved else "rejected"
            conn.execute(update(approvals).where(approvals.c.id == approval_id).values(
                status=status, decided_at=time.time(), decided_by=by or None, note=note or None))
            insert_message(conn, f"approval/{approval_id}", by or "person", row.agent,
                           "approval.decided",
                           {"approval_id": approval_id, "approved": approved, "by": by,
                            "note": note, "subject": row.subject, "request_key": row.key})
            return _record(conn.execute(select(approvals).where(approvals.c.id == approval_id)).one())
        return self._write(fn)
