"""A world to aim requests at, the app's routes and forms, and a tally of server errors.

Shared by the route fuzzer (tests/test_fuzz_routes.py) and the access matrix
(tests/test_access_matrix.py): both are generated from ``app.url_map``, so a new route is
fuzzed and must be given a row in the matrix without anyone remembering to.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from babel import Locale
from flask import current_app
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from rallyhub.auth.models import Role, User
from rallyhub.auth.services import CONFIRM, DIGESTS_OFF, RESET
from rallyhub.auth.tokens import fingerprint, make_token
from rallyhub.campaigns.models import Campaign, CampaignTranslation
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import (
    CoorganizerInvite,
    Rally,
    RallyStatus,
    RallyTranslation,
    SafetyContact,
    rally_coorganizers,
)
from rallyhub.signups.models import SafetyIncident, Signup, SignupStatus
from rallyhub.signups.safety import checkin_token
from rallyhub.toolkits.models import Audience, ToolkitItem, ToolkitKind
from tests.conftest import csrf_from, post_form
from tests.factories import DEFAULT_PASSWORD, CampaignFactory, RallyFactory, UserFactory

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes(app) -> list[tuple[Rule, str]]:
    """Every (rule, method) the app serves, static files aside, in a stable order."""
    pairs = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in sorted(rule.methods - IGNORED_METHODS)
    ]
    return sorted(pairs, key=lambda pair: (pair[0].endpoint, pair[1]))


def is_int_argument(rule: Rule, name: str) -> bool:
    """Whether ``name`` is an ``<int:...>`` part of ``rule``."""
    return isinstance(rule._converters[name], IntegerConverter)


# -- the world --------------------------------------------------------------------------------


@dataclass
class World:
    """Ids and secrets of one set of records: people around two rallies, a sign-up, a toolkit."""

    emails: dict[str, str]
    user_ids: dict[str, int]
    campaign_id: int
    campaign_slug: str
    approved_id: int
    pending_id: int
    signup_id: int
    signup_token: str
    cancelled_token: str
    text_item_id: int
    file_item_id: int
    confirm_token: str
    reset_token: str
    invite_id: int
    invite_token: str
    digests_token: str
    # A rally that ended an hour ago with safety check-ins: a sign-up's check-in link, HQ's
    # contacts for its country, a call for help.
    ended_id: int
    safety_token: str
    contact_id: int
    incident_id: int
    # A request to join the approved rally, waiting for the organizers' answer.
    requested_id: int
    requested_token: str

    def real_values(self, rule: Rule, name: str) -> list[str]:
        """Values of path part ``name`` of ``rule`` that name records of this world."""
        if name == "rally_id":
            return [str(self.approved_id), str(self.pending_id)]
        if name == "signup_id":
            return [str(self.signup_id), str(self.requested_id)]
        if name == "user_id":
            # Never the accounts the requests are made as: HQ could disable itself.
            return [str(self.user_ids[who]) for who in ("coorganizer", "target", "disabled")]
        if name == "contact_id":
            return [str(self.contact_id)]
        if name == "incident_id":
            return [str(self.incident_id)]
        if name == "campaign_id":
            return [str(self.campaign_id)]
        if name == "invite_id":
            return [str(self.invite_id)]
        if name == "item_id":
            return [str(self.text_item_id), str(self.file_item_id)]
        if name == "slug":
            return [self.campaign_slug]
        if name == "language":
            # The world's rally and campaign have Italian translations (see build_world).
            return ["it", "de"]
        if name == "token":
            return {
                "auth.confirm": [self.confirm_token],
                "auth.reset_password": [self.reset_token],
                "rallies.accept_invite": [self.invite_token],
                "auth.digests_off": [self.digests_token],
                "signups.safety": [self.safety_token],
                "signups.safety_safe": [self.safety_token],
                "signups.safety_help": [self.safety_token],
            }.get(rule.endpoint, [self.signup_token, self.cancelled_token, self.requested_token])
        raise LookupError(f"no real value for <{name}> of {rule.rule}: add one to World")


ROLE_EMAILS = {
    "owner": "owner",
    "coorganizer": "co",
    "other": "other",
    "hq": "hq",
    "target": "target",
}


def build_world(app, tag: str = "") -> World:
    """People (owner, co-organizer, other organizer, HQ, a target), rallies, sign-up, toolkit."""
    users = UserFactory(app)
    campaigns = CampaignFactory(app)
    rallies = RallyFactory(app, users, campaigns)
    emails = {role: f"{prefix}{tag}@example.org" for role, prefix in ROLE_EMAILS.items()}
    user_ids = {
        role: users(email=email, role=Role.HQ if role == "hq" else Role.ORGANIZER)
        for role, email in emails.items()
    }
    # Someone for HQ to enable again (the page shows that button only for them).
    user_ids["disabled"] = users(email=f"disabled{tag}@example.org", disabled=True)
    campaign_id = campaigns()
    common = {"organizer_id": user_ids["owner"], "campaign_id": campaign_id}
    # Under way (started an hour ago, two hours long): check-in and turnout forms are open.
    approved_id = rallies(
        title="Approved rally",
        capacity=50,
        start_dt=utcnow().replace(microsecond=0) - timedelta(hours=1),
        **common,
    )
    pending_id = rallies(title="Pending rally", status=RallyStatus.PENDING, **common)
    with app.app_context():
        # Contacts are one text per country and language: each world has a country of its own.
        country = unused_country()
    ended_id = rallies(
        title="Ended rally",
        start_dt=utcnow().replace(microsecond=0) - timedelta(hours=3),
        safety_checkins=True,
        country_code=country,
        **common,
    )
    with app.app_context():
        for rally_id in (approved_id, pending_id):
            db.session.execute(
                rally_coorganizers.insert().values(
                    rally_id=rally_id, user_id=user_ids["coorganizer"]
                )
            )
        signup = Signup(rally_id=approved_id, name="Ana", email=f"ana{tag}@example.org")
        cancelled = Signup(
            rally_id=approved_id,
            name="Bo",
            email=f"bo{tag}@example.org",
            status=SignupStatus.CANCELLED,
        )
        text_item = ToolkitItem(
            campaign_id=campaign_id,
            title="Chants",
            kind=ToolkitKind.CHANT_SHEET,
            language="en",
            group_key=f"chants{tag}",
            body="We are here.",
            audience=Audience.PUBLIC,
        )
        file_item = _file_item(campaign_id, f"sign{tag}")
        invite_token = secrets.token_urlsafe(32)
        invite = CoorganizerInvite(
            rally_id=approved_id,
            email=emails["target"],
            invited_by_id=user_ids["owner"],
            token_hash=hashlib.sha256(invite_token.encode()).hexdigest(),
            expires_dt=utcnow() + timedelta(days=7),
        )
        translations = [
            RallyTranslation(rally_id=approved_id, language="it", title="Manifestazione"),
            CampaignTranslation(campaign_id=campaign_id, language="it", name="Campagna"),
        ]
        requested = Signup(
            rally_id=approved_id,
            name="Cy",
            email=f"cy{tag}@example.org",
            status=SignupStatus.REQUESTED,
        )
        db.session.add_all(
            [signup, cancelled, requested, text_item, file_item, invite, *translations]
        )
        safety_signup = Signup(rally_id=ended_id, name="Dana", email=f"dana{tag}@example.org")
        contact = SafetyContact(
            country_code=country, language="en", text="Juridisk hjälp: +46 8 000 00 00"
        )
        incident = SafetyIncident(rally_id=ended_id, message="Polisen", contact="+46 70 000")
        db.session.add_all([safety_signup, contact, incident])
        db.session.commit()
        target = db.session.get(User, user_ids["target"])
        campaign = db.session.get(Campaign, campaign_id)
        return World(
            emails=emails,
            user_ids=user_ids,
            campaign_id=campaign_id,
            campaign_slug=campaign.slug,
            approved_id=approved_id,
            pending_id=pending_id,
            signup_id=signup.id,
            signup_token=signup.token,
            cancelled_token=cancelled.token,
            text_item_id=text_item.id,
            file_item_id=file_item.id,
            confirm_token=make_token(
                CONFIRM, {"uid": target.id, "email": fingerprint(target.email)}
            ),
            reset_token=make_token(
                RESET, {"uid": target.id, "pw": fingerprint(target.password_hash)}
            ),
            invite_id=invite.id,
            invite_token=invite_token,
            digests_token=make_token(DIGESTS_OFF, {"uid": target.id}),
            ended_id=ended_id,
            safety_token=checkin_token(db.session.get(Rally, ended_id), signup=safety_signup),
            contact_id=contact.id,
            incident_id=incident.id,
            requested_id=requested.id,
            requested_token=requested.token,
        )


def unused_country() -> str:
    """A country for which HQ has written no safety contacts yet."""
    taken = set(db.session.scalars(select(SafetyContact.country_code)))
    return next(
        code
        for code in sorted(Locale("en").territories)
        if len(code) == 2 and code.isalpha() and code not in taken
    )


def _file_item(campaign_id: int, name: str) -> ToolkitItem:
    """A PDF item whose file is on disk, as an upload would leave it."""
    directory = Path(current_app.config["UPLOAD_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    stored = (name.encode().hex() + "0" * 32)[:32]
    (directory / stored).write_bytes(b"%PDF-1.4 test")
    return ToolkitItem(
        campaign_id=campaign_id,
        title="Sign",
        kind=ToolkitKind.SIGN,
        language="en",
        group_key=name[:32],
        audience=Audience.PUBLIC,
        stored_name=stored,
        original_filename="sign.pdf",
        content_type="application/pdf",
        size_bytes=13,
        created_dt=utcnow() - timedelta(minutes=1),
    )


def client_as(app, world: World, role: str):
    """A test client signed in as ``role`` (``anonymous`` stays signed out)."""
    client = app.test_client()
    if role != "anonymous":
        response = post_form(
            client, "/auth/login", {"email": world.emails[role], "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 302, f"could not sign in as {role}"
    return client


def csrf_token(client) -> str:
    """A CSRF token for ``client``'s session (the registration page has a form for everyone)."""
    return csrf_from(client.get("/auth/register").get_data(as_text=True))


# -- forms found on pages ---------------------------------------------------------------------


@dataclass
class Field:
    """One named control of a form: its kind, the value the page filled in, its choices."""

    name: str
    kind: str
    value: str = ""
    choices: list[str] = field(default_factory=list)


@dataclass
class Form:
    """A form as a browser sees it."""

    method: str
    action: str
    multipart: bool
    fields: dict[str, Field] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self, page_path: str):
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                method=(attrs.get("method") or "get").upper(),
                action=urlsplit(attrs.get("action") or self.page_path).path,
                multipart=attrs.get("enctype") == "multipart/form-data",
            )
            self.forms.append(self._form)
            return
        form = self._form
        if form is None or not attrs.get("name"):
            if tag == "option" and self._select is not None:
                self._option(attrs)
            return
        name = attrs["name"]
        if tag == "input":
            kind = attrs.get("type", "text").lower()
            known = form.fields.get(name)
            if kind in ("radio", "checkbox"):
                known = known or form.fields.setdefault(name, Field(name, kind))
                known.choices.append(attrs.get("value", "on"))
                if "checked" in attrs:
                    known.value = attrs.get("value", "on")
            elif kind not in ("submit", "button", "image", "reset"):
                form.fields[name] = Field(name, kind, attrs.get("value", ""))
        elif tag == "select":
            self._select = form.fields[name] = Field(name, "select")
        elif tag == "textarea":
            self._textarea = form.fields[name] = Field(name, "textarea")

    def _option(self, attrs):
        self._select.choices.append(attrs.get("value", ""))
        if "selected" in attrs or not self._select.value:
            self._select.value = attrs.get("value", "")

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def forms_on(page_path: str, html: str) -> list[Form]:
    """The forms of a page, their actions resolved to paths."""
    parser = _FormParser(page_path)
    parser.feed(html)
    return parser.forms


# -- a tally of server errors -----------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Keep the tracebacks the app's last-resort error handler logs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        if record.exc_info:
            self.records.append("".join(traceback.format_exception(*record.exc_info)))
        else:
            self.records.append(record.getMessage())

    def take(self) -> str:
        """The tracebacks logged since the last call, joined."""
        text, self.records = "\n".join(self.records), []
        return text


@dataclass
class Failure:
    """One request the server failed: where, with what, and the traceback it logged."""

    route: str
    request: str
    status: int
    logged: str

    @property
    def exception(self) -> str:
        """The last line of the traceback (the exception and its message)."""
        lines = self.logged.strip().splitlines()
        return lines[-1] if lines else "(nothing logged)"

    def __str__(self) -> str:
        return f"{self.status} {self.route}: {self.request[:500]}\n{self.logged}"


@dataclass
class Tally:
    """How many cases ran and which ones answered with a server error."""

    cases: int = 0
    failures: list[Failure] = field(default_factory=list)

    def record(self, route: str, request: str, status: int, error_log: ErrorLog) -> None:
        """Count one case; keep what is needed to reproduce it when the server failed."""
        self.cases += 1
        logged = error_log.take()
        if status >= 500:
            self.failures.append(Failure(route, request, status, logged))

    def distinct(self, failures: list[Failure] | None = None) -> list[Failure]:
        """One failure per route and exception, the first seen."""
        seen: dict[tuple[str, str], Failure] = {}
        for failure in self.failures if failures is None else failures:
            seen.setdefault((failure.route, failure.exception[:120]), failure)
        return list(seen.values())
