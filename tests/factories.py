"""Factories that make records with defaults; each call commits and returns the record's id."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pyotp
from sqlalchemy import select

from rallyhub.auth.models import Role, User
from rallyhub.auth.passwords import hash_password
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, Visibility

DEFAULT_PASSWORD = "correct horse battery staple"
# The authenticator secret of every account the factory enrols in two-factor sign-in.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_sequence = itertools.count(1)


class _Factory:
    def __init__(self, app):
        self.app = app

    def _save(self, record):
        with self.app.app_context():
            db.session.add(record)
            db.session.commit()
            return record.id


class UserFactory(_Factory):
    """``users(email=..., role=..., confirmed=True, disabled=False, password=...,
    two_factor=..., language="en")`` → id.

    HQ accounts must use two-factor sign-in, so they come enrolled with :data:`TOTP_SECRET`
    unless ``two_factor=False``; organizers only with ``two_factor=True``.
    """

    def __call__(
        self,
        email=None,
        name=None,
        role=Role.ORGANIZER,
        password=DEFAULT_PASSWORD,
        confirmed=True,
        disabled=False,
        two_factor=None,
        language="en",
    ) -> int:
        n = next(_sequence)
        enrolled = role is Role.HQ if two_factor is None else two_factor
        with self.app.app_context():
            user = User(
                email=email or f"person{n}@example.org",
                name=name or f"Person {n}",
                role=role,
                password_hash=hash_password(password),
                email_confirmed_dt=utcnow() if confirmed else None,
                is_disabled=disabled,
                totp_secret=TOTP_SECRET if enrolled else None,
                totp_enabled_dt=utcnow() if enrolled else None,
                language=language,
            )
        return self._save(user)


def fresh_totp_code(app, email: str) -> str:
    """The code an enrolled factory account's app shows now, made acceptable at once.

    A code is good once: tests sign one account in many times a minute (the access matrix,
    once per route), so the account's record of spent codes is cleared first, as if the next
    30-second step had come.
    """
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
        user.totp_last_step = None
        db.session.commit()
    return pyotp.TOTP(TOTP_SECRET).now()


class CampaignFactory(_Factory):
    """``campaigns(slug=..., hashtag=...)`` → id."""

    def __call__(self, **fields) -> int:
        n = next(_sequence)
        values = {
            "slug": f"campaign-{n}",
            "name": f"Campaign {n}",
            "hashtag": f"#Campaign{n}",
            "description": "",
            "start_date": date.today() - timedelta(days=10),
            **fields,
        }
        return self._save(Campaign(**values))


class RallyFactory(_Factory):
    """``rallies(title=..., organizer_id=..., status=..., ...)`` → id."""

    def __init__(self, app, users, campaigns):
        super().__init__(app)
        self.users = users
        self.campaigns = campaigns

    def __call__(self, **fields) -> int:
        start = fields.pop(
            "start_dt", utcnow().replace(second=0, microsecond=0) + timedelta(days=7)
        )
        values = {
            "title": "Rally for justice",
            "description": "",
            "city": "Stockholm",
            "country_code": "SE",
            "meeting_point": "Sergels torg",
            "latitude": 59.3326,
            "longitude": 18.0649,
            "timezone": "Europe/Stockholm",
            "start_dt": start,
            "end_dt": start + timedelta(hours=2),
            "status": RallyStatus.APPROVED,
            "visibility": Visibility.PUBLIC,
            **fields,
        }
        if values["status"] in (RallyStatus.APPROVED, RallyStatus.CANCELLED):
            # As if HQ had approved it (a cancelled one, before it was cancelled).
            values.setdefault("approved_dt", values["start_dt"] - timedelta(days=14))
        values.setdefault("organizer_id", fields.get("organizer_id") or self.users())
        values.setdefault("campaign_id", fields.get("campaign_id") or self.campaigns())
        return self._save(Rally(**values))
