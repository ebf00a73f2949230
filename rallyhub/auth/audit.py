"""The audit record: who did what to which record, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rallyhub.auth.models import User
from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, utcnow


class AuditRecord(db.Model):
    """One audited action; ``detail`` never holds a supporter's personal data."""

    __tablename__ = "audit_records"
    __table_args__ = (Index(None, "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text, default="")
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor: Mapped[User | None] = relationship()


def record_audit(
    actor: User | None, action: str, target_type: str, target_id: int | None, detail: str = ""
) -> AuditRecord:
    """Add an audit record to the session (committed with the request)."""
    entry = AuditRecord(
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )
    db.session.add(entry)
    return entry
