"""Rally rules: what may be seen, by whom, and when."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus


def upcoming_public_rallies(limit: int = 500) -> list[Rally]:
    """Approved rallies that have not ended, soonest first."""
    query = (
        select(Rally)
        .options(joinedload(Rally.campaign))
        .where(Rally.status == RallyStatus.APPROVED, Rally.end_dt > utcnow())
        .order_by(Rally.start_dt, Rally.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))
