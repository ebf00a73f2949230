"""Who may do what: every route of the URL map against every kind of person, one matrix.

Each row is a route (endpoint and method) and the status each person gets, for an approved
rally and for a pending one. The rows are checked against the URL map: a new route without a
row, or a row for a route that is gone, fails the suite.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import (
    CoorganizerInvite,
    Rally,
    RallyStatus,
    SafetyContact,
    rally_coorganizers,
)
from rallyhub.signups.models import SafetyIncident, Signup
from rallyhub.toolkits.models import Audience, ToolkitItem, ToolkitKind
from tests.conftest import post_form
from tests.factories import CampaignFactory, RallyFactory, UserFactory
from tests.fuzzing import build_world, client_as, routes, unused_country
from tests.rally_data import rally_form

# The supporter is someone signed out who holds a sign-up's private link; everyone else is
# given a link that is not theirs for the routes behind one.
ROLES = ("anonymous", "supporter", "owner", "coorganizer", "other", "hq")

# (endpoint, method): (statuses with an approved rally, with a pending one or None when they
# are the same), in the order of ROLES. POSTs send a CSRF token and a mix of every form's valid
# fields, so "400" means the person got past the access check to the form's validation.
# Pages and changes for the rally's organizers and HQ: sign in first; another organizer is
# refused, and does not even learn that a pending rally exists.
EDITORS_SEE, EDITORS_SEE_PENDING = (302, 302, 200, 200, 403, 200), (302, 302, 200, 200, 404, 200)
EDITED, EDITED_PENDING = (302, 302, 302, 302, 403, 302), (302, 302, 302, 302, 404, 302)
# fmt: off
MATRIX: dict[tuple[str, str], tuple[tuple, tuple | None]] = {
    ('api.events', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('api.ping', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('api.places', 'GET'): ((400, 400, 400, 400, 400, 400), None),
    ('auth.account', 'GET'): ((302, 302, 200, 200, 200, 200), None),
    ('auth.account', 'POST'): ((302, 302, 400, 400, 400, 400), None),
    ('auth.change_password', 'GET'): ((302, 302, 200, 200, 200, 200), None),
    ('auth.change_password', 'POST'): ((302, 302, 400, 400, 400, 400), None),
    ('auth.check_inbox', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('auth.confirm', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('auth.confirm', 'POST'): ((302, 302, 302, 302, 302, 302), None),
    # Only a signed link from a digest opens it; any other is 404.
    ('auth.digests_off', 'GET'): ((404, 404, 404, 404, 404, 404), None),
    ('auth.digests_off', 'POST'): ((404, 404, 404, 404, 404, 404), None),
    ('auth.login', 'GET'): ((200, 200, 302, 302, 302, 302), None),
    ('auth.login', 'POST'): ((400, 400, 302, 302, 302, 302), None),
    ('auth.logout', 'POST'): ((302, 302, 302, 302, 302, 302), None),
    # Only half-way through signing in (the password given, the code not yet) is it a page.
    ('auth.login_code', 'GET'): ((302, 302, 302, 302, 302, 302), None),
    ('auth.logout_everywhere', 'POST'): ((302, 302, 302, 302, 302, 302), None),
    ('auth.register', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('auth.register', 'POST'): ((400, 400, 400, 400, 400, 400), None),
    ('auth.request_reset', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('auth.request_reset', 'POST'): ((302, 302, 302, 302, 302, 302), None),
    ('auth.reset_password', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('auth.reset_password', 'POST'): ((400, 400, 400, 400, 400, 400), None),
    ('auth.end_session', 'POST'): ((302, 302, 400, 400, 400, 400), None),
    ('auth.sessions', 'GET'): ((302, 302, 200, 200, 200, 200), None),
    ('auth.two_factor_settings', 'GET'): ((302, 302, 200, 200, 200, 200), None),
    ('auth.two_factor_settings', 'POST'): ((302, 302, 400, 400, 400, 400), None),
    # Organizers without it set it up here; HQ (enrolled, as it must be) is sent to its page.
    ('auth.two_factor_setup', 'GET'): ((302, 302, 200, 200, 200, 302), None),
    ('auth.two_factor_setup', 'POST'): ((302, 302, 400, 400, 400, 302), None),
    ('campaigns.archive', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('campaign_rallies.campaign_calendar', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('campaigns.create', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('campaigns.create', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('campaigns.edit', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('campaigns.edit', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('campaigns.translate', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('campaigns.delete_translation', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('campaigns.manage', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('health.healthz', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('health.live', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('health.ready', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    # Off unless an operator turns it on (then only with the token: tests/test_operations_*).
    ('metrics.metrics', 'GET'): ((404, 404, 404, 404, 404, 404), None),
    ('i18n.choose', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('hq.accounts_list', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.approve', 'POST'): ((302, 302, 403, 403, 403, 400), (302, 302, 403, 403, 403, 302)),
    ('hq.attendance_csv', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.attendance_xlsx', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.countries_csv', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.countries', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.countries', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('hq.dashboard', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.delete_safety_contact', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('hq.edit_safety_contact', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.edit_safety_contact', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('hq.incident_handled', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('hq.incidents', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.disable', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('hq.enable', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('hq.reject', 'POST'): ((302, 302, 403, 403, 403, 400), (302, 302, 403, 403, 403, 302)),
    ('hq.review_queue', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.safety_contacts', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.safety_contacts', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('hq.set_role', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('hq.require_two_factor', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    # Emergency take-down of a country's rallies: HQ only (the matrix names no country: 400).
    ('hq.takedown_country', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('hq.takedown_country', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('map.embed', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('map.index', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('map.near', 'GET'): ((400, 400, 400, 400, 400, 400), None),
    ('map.points', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('rallies.accept_invite', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('rallies.accept_invite', 'POST'): ((404, 404, 404, 404, 404, 404), None),
    ('rallies.add_coorganizer', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.calendar', 'GET'): ((200, 200, 200, 200, 200, 200), (404, 404, 200, 200, 404, 200)),
    ('rallies.cancel', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.create', 'GET'): ((302, 302, 200, 200, 200, 200), None),
    ('rallies.create', 'POST'): ((302, 302, 302, 302, 302, 302), None),
    ('rallies.detail', 'GET'): ((200, 200, 200, 200, 200, 200), (404, 404, 200, 200, 404, 200)),
    ('rallies.edit', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    ('rallies.edit', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.manage', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    ('rallies.translations', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    ('rallies.translations', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.delete_translation', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.mine', 'GET'): ((302, 302, 200, 200, 200, 200), None),
    ('rallies.remove_coorganizer', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.take_down', 'POST'): (EDITED, EDITED_PENDING),
    ('rallies.withdraw_invite', 'POST'): (EDITED, EDITED_PENDING),
    ('signups.attendees', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    # The matrix's sign-up has a place already: approving it again changes nothing (302),
    # declining it is refused (400) once past the access check.
    ('signups.approve', 'POST'): (EDITED, EDITED_PENDING),
    ('signups.decline', 'POST'): ((302, 302, 400, 400, 403, 400), (302, 302, 400, 400, 404, 400)),
    ('signups.attendees_csv', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    # The supporter is asked first (200); only the link's holder gets that far.
    ('signups.cancel', 'POST'): ((404, 302, 404, 404, 404, 404), None),
    ('signups.checkin', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    ('signups.create', 'POST'): ((400, 400, 400, 400, 400, 400), (404, 404, 400, 400, 404, 400)),
    ('signups.manage', 'GET'): ((404, 200, 404, 404, 404, 404), None),
    ('signups.manage', 'POST'): ((404, 302, 404, 404, 404, 404), (404, 400, 404, 404, 404, 404)),
    ('signups.message', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    ('signups.message', 'POST'): ((302, 302, 400, 400, 403, 400), (302, 302, 400, 400, 404, 400)),
    ('signups.rejoin', 'POST'): ((404, 302, 404, 404, 404, 404), None),
    # Only a signed check-in link, mailed after a rally with check-ins, opens these (the
    # matrix's rally is days ahead); any other is 404, whoever asks.
    ('signups.safety', 'GET'): ((404, 404, 404, 404, 404, 404), None),
    ('signups.safety_help', 'GET'): ((404, 404, 404, 404, 404, 404), None),
    ('signups.safety_help', 'POST'): ((404, 404, 404, 404, 404, 404), None),
    ('signups.safety_safe', 'POST'): ((404, 404, 404, 404, 404, 404), None),
    ('signups.unsubscribe', 'GET'): ((404, 200, 404, 404, 404, 404), None),
    ('signups.unsubscribe', 'POST'): ((404, 302, 404, 404, 404, 404), None),
    ('signups.thanks', 'GET'): ((200, 200, 200, 200, 200, 200), (404, 404, 200, 200, 404, 200)),
    # The world's rallies are days ahead: editors get past the access check to "check-in opens
    # on the day" (400).
    ('signups.toggle_checkin', 'POST'): (
        (302, 302, 400, 400, 403, 400),
        (302, 302, 400, 400, 404, 400),
    ),
    ('signups.turnout', 'GET'): (EDITORS_SEE, EDITORS_SEE_PENDING),
    ('signups.turnout', 'POST'): ((302, 302, 400, 400, 403, 400), (302, 302, 400, 400, 404, 400)),
    ('signups.walk_ins', 'POST'): ((302, 302, 400, 400, 403, 400), (302, 302, 400, 400, 404, 400)),
    ('toolkits.archive', 'POST'): ((302, 302, 403, 403, 403, 302), None),
    ('toolkits.campaign_toolkit', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('toolkits.create', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('toolkits.create', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('toolkits.download', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('toolkits.edit', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('toolkits.edit', 'POST'): ((302, 302, 403, 403, 403, 400), None),
    ('toolkits.item', 'GET'): ((200, 200, 200, 200, 200, 200), None),
    ('toolkits.manage', 'GET'): ((302, 302, 403, 403, 403, 200), None),
    ('toolkits.preview', 'GET'): ((404, 404, 404, 404, 404, 404), None),
}
# fmt: on


def _status_of(client, method, url, campaign_id):
    if method == "GET":
        response = client.get(url)
    else:
        data = {
            "note": "A note.",
            # Destructive actions ask first; the matrix checks the action itself.
            "confirm": "yes",
            "email": "someone@example.org",
            **rally_form(campaign_id, city="Stockholm", title="Changed by the request"),
        }
        # The registration page has a form (and so a CSRF token) for everyone.
        response = post_form(client, url, data, page="/auth/register")
    response.close()
    return response.status_code


def test_every_route_has_a_row(app):
    served = {(rule.endpoint, method) for rule, method in routes(app)}
    assert served - MATRIX.keys() == set(), "routes without a row in the access matrix"
    assert MATRIX.keys() - served == set(), "rows for routes that no longer exist"


def _fresh(app, world, status):
    """A rally of the world's owner (co-organized), with a sign-up, an item and an invite."""
    users = UserFactory(app)
    campaigns = CampaignFactory(app)
    campaign_id = campaigns()
    rally_id = RallyFactory(app, users, campaigns)(
        organizer_id=world.user_ids["owner"], campaign_id=campaign_id, status=status
    )
    invite_token = secrets.token_urlsafe(32)
    with app.app_context():
        db.session.execute(
            rally_coorganizers.insert().values(
                rally_id=rally_id, user_id=world.user_ids["coorganizer"]
            )
        )
        signup = Signup(rally_id=rally_id, name="Ana", email="ana@example.org")
        item = ToolkitItem(
            campaign_id=campaign_id,
            title="Chants",
            kind=ToolkitKind.CHANT_SHEET,
            language="en",
            group_key=secrets.token_hex(8),
            body="We are here.",
            audience=Audience.PUBLIC,
        )
        invite = CoorganizerInvite(
            rally_id=rally_id,
            email=world.emails["target"],
            token_hash=hashlib.sha256(invite_token.encode()).hexdigest(),
            expires_dt=utcnow() + timedelta(days=7),
        )
        contact = SafetyContact(
            country_code=unused_country(), language="en", text="Juridisk hjälp: +46 8 000"
        )
        incident = SafetyIncident(rally_id=rally_id, message="Polisen")
        db.session.add_all([signup, item, invite, contact, incident])
        db.session.commit()
        slug = db.session.scalar(select(Rally).where(Rally.id == rally_id)).campaign.slug
        return {
            "rally_id": rally_id,
            "campaign_id": campaign_id,
            "slug": slug,
            "signup_id": signup.id,
            "token": signup.token,
            "item_id": item.id,
            "invite_id": invite.id,
            "invite_token": invite_token,
            "contact_id": contact.id,
            "incident_id": incident.id,
        }


def _path(rule, role, world, fresh) -> str:
    """The rule's path for ``role``: this row's records, the supporter's link only for them."""
    values = {
        "rally_id": fresh["rally_id"],
        "campaign_id": fresh["campaign_id"],
        "slug": fresh["slug"],
        "signup_id": fresh["signup_id"],
        # Downloads need a file; the world's PDF (no preview: only images have one).
        "item_id": world.file_item_id
        if rule.endpoint in ("toolkits.download", "toolkits.preview")
        else fresh["item_id"],
        "invite_id": fresh["invite_id"],
        "contact_id": fresh["contact_id"],
        "incident_id": fresh["incident_id"],
        "language": "it",
        "user_id": world.user_ids[
            "coorganizer" if rule.endpoint == "rallies.remove_coorganizer" else "target"
        ],
        "token": {
            "auth.confirm": world.confirm_token,
            "auth.reset_password": world.reset_token,
            "rallies.accept_invite": fresh["invite_token"],
        }.get(
            rule.endpoint,
            fresh["token"] if role == "supporter" else secrets.token_urlsafe(32),
        ),
    }
    return rule.build(values, append_unknown=False)[1]


def _snapshot(app, rally_id):
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        co = db.session.scalars(
            select(rally_coorganizers.c.user_id).where(rally_coorganizers.c.rally_id == rally_id)
        ).all()
        return rally.title, rally.status, sorted(co)


@pytest.mark.parametrize(
    "status", [RallyStatus.APPROVED, RallyStatus.PENDING], ids=["approved", "pending"]
)
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, role, status):
    world = build_world(app, tag="m")
    column = ROLES.index(role)
    wrong = []
    for rule, method in routes(app):
        approved, pending = MATRIX[(rule.endpoint, method)]
        expected = (pending or approved) if status is RallyStatus.PENDING else approved
        fresh = _fresh(app, world, status)
        client = client_as(app, world, "anonymous" if role == "supporter" else role)
        url = _path(rule, role, world, fresh)
        before = _snapshot(app, fresh["rally_id"])
        got = _status_of(client, method, url, fresh["campaign_id"])
        if got != expected[column]:
            wrong.append(f"{method} {url} ({rule.endpoint}): {got}, expected {expected[column]}")
        refused = expected[column] >= 400 or role in ("anonymous", "supporter")
        if method == "POST" and refused and _snapshot(app, fresh["rally_id"]) != before:
            wrong.append(f"{method} {url} ({rule.endpoint}) changed the rally though refused")
    assert not wrong, "\n".join(wrong)
