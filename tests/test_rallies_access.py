"""Who may do what with a rally: every route of the area against every kind of person."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus, rally_coorganizers
from tests.conftest import post_form
from tests.factories import DEFAULT_PASSWORD
from tests.rally_data import rally_form

ROLES = ["anonymous", "owner", "other", "coorganizer", "hq"]

# route, method, expected status per role (anonymous, owner, other organizer, co-organizer, HQ)
# for an approved rally; "hidden" rows are for a pending one.
MATRIX = [
    ("/rallies/{id}", "get", (200, 200, 200, 200, 200)),
    ("/rallies/{id}.ics", "get", (200, 200, 200, 200, 200)),
    ("/rallies/{id}/edit", "get", (302, 200, 403, 200, 200)),
    ("/rallies/{id}/edit", "post", (302, 302, 403, 302, 302)),
    ("/rallies/{id}/manage", "get", (302, 200, 403, 200, 200)),
    ("/rallies/{id}/coorganizers", "post", (302, 302, 403, 302, 302)),
    ("/rallies/{id}/coorganizers/{co}/remove", "post", (302, 302, 403, 302, 302)),
    ("/rallies/{id}/cancel", "post", (302, 302, 403, 302, 302)),
    ("/rallies/new", "get", (302, 200, 200, 200, 200)),
    ("/rallies/mine", "get", (302, 200, 200, 200, 200)),
    ("/hq/review", "get", (302, 403, 403, 403, 200)),
    ("/hq/review/{id}/approve", "post", (302, 403, 403, 403, 400)),
    ("/hq/review/{id}/reject", "post", (302, 403, 403, 403, 400)),
]
HIDDEN = [
    ("/rallies/{id}", "get", (404, 200, 404, 200, 200)),
    ("/rallies/{id}.ics", "get", (404, 200, 404, 200, 200)),
    ("/rallies/{id}/edit", "get", (302, 200, 404, 200, 200)),
    ("/rallies/{id}/cancel", "post", (302, 302, 404, 302, 302)),
    ("/hq/review/{id}/approve", "post", (302, 403, 403, 403, 302)),
]


@pytest.fixture
def world(app, users, rallies, campaigns):
    """An owner, a co-organizer, another organizer and HQ around one rally."""
    ids = {
        "owner": users(email="owner@example.org"),
        "other": users(email="other@example.org"),
        "coorganizer": users(email="co@example.org"),
        "hq": users(email="hq@example.org", role=Role.HQ),
    }
    campaign = campaigns()

    def make(status):
        rally_id = rallies(organizer_id=ids["owner"], campaign_id=campaign, status=status)
        with app.app_context():
            db.session.execute(
                rally_coorganizers.insert().values(rally_id=rally_id, user_id=ids["coorganizer"])
            )
            db.session.commit()
        return rally_id

    return ids, campaign, make


def _client_as(app, role):
    client = app.test_client()
    if role != "anonymous":
        email = {
            "owner": "owner@example.org",
            "other": "other@example.org",
            "coorganizer": "co@example.org",
            "hq": "hq@example.org",
        }[role]
        response = post_form(client, "/auth/login", {"email": email, "password": DEFAULT_PASSWORD})
        assert response.status_code == 302
    return client


def _snapshot(app, rally_id):
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        co = db.session.scalars(
            select(rally_coorganizers.c.user_id).where(rally_coorganizers.c.rally_id == rally_id)
        ).all()
        return rally.title, rally.status, sorted(co)


def _request(client, method, url, campaign):
    if method == "get":
        return client.get(url)
    data = {
        "note": "A note.",
        "email": "someone@example.org",
        **rally_form(campaign, city="Stockholm", title="Changed by the request"),
    }
    # The registration page has a form (and so a CSRF token) for everyone, signed in or not.
    return post_form(client, url, data, page="/auth/register")


@pytest.mark.parametrize(
    ("rows", "status"),
    [(MATRIX, RallyStatus.APPROVED), (HIDDEN, RallyStatus.PENDING)],
    ids=["approved", "pending"],
)
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, world, rows, status, role):
    ids, campaign, make = world
    column = ROLES.index(role)
    for path, method, expected in rows:
        rally_id = make(status)
        url = path.format(id=rally_id, co=ids["coorganizer"])
        before = _snapshot(app, rally_id)
        response = _request(_client_as(app, role), method, url, campaign)
        assert response.status_code == expected[column], (role, method, url)
        refused = expected[column] >= 400 or role == "anonymous"
        if method == "post" and refused:
            assert _snapshot(app, rally_id) == before, ("changed by a refused request", url)
