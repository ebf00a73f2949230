"""Two instances behind nginx work as one site: sessions, CSRF, rate limits, uploads and mail
whichever instance answers; public pages come from nginx's cache and a change shows through
within their lifetime; an instance killed in the middle of a burst of sign-ups loses none.

The module's tests share one cluster; the last one kills an instance (and starts it again).
"""

from __future__ import annotations

import http.client
import math
import re
import secrets
import threading
import time
from collections import Counter
from itertools import cycle, repeat
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally
from rallyhub.signups.models import Signup
from rallyhub.toolkits.models import ToolkitItem
from tests.cluster.conftest import SIGNUP_LIMIT, Visitor
from tests.cluster.environment import source_address
from tests.test_rallies_manage import _edit_form

# Stockholm as the edit form resolves it: a rally made with these stays as it was when its
# organizer changes only its title (a new place would send it back to HQ's review).
STOCKHOLM = {"place_id": 2673730, "languages": "en"}


def sign_up(visitor: Visitor, target: str, rally_id: int, email: str):
    """The rally page's form as a visitor without a session sends it: no token, our Origin."""
    origin = visitor.cluster.origin_of(target)
    return visitor.request(
        target,
        "POST",
        f"/rallies/{rally_id}/signup",
        body=urlencode({"name": "Supporter", "email": email}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "Referer": f"{origin}/rallies/{rally_id}",
        },
    )


def rally_title(seed, rally_id: int) -> str:
    with seed.app.app_context():
        return db.session.get(Rally, rally_id).title


# --- sessions, CSRF, rate limits, uploads, mail -------------------------------------------


def test_a_sign_in_on_one_instance_acts_on_the_other_until_signed_out_there(cluster, seed, visitor):
    email = "giulia.cluster@example.org"
    rally_id = seed.rallies(organizer_id=seed.users(email=email), title="Before", **STOCKHOLM)
    giulia = visitor()
    giulia.sign_in("a", email, seed)

    mine = giulia.get("b", "/rallies/mine")
    assert mine.status == 200 and "Before" in mine.text
    # A form's token from A is good on B: one SECRET_KEY, the session in the cookie.
    edit = _edit_form(seed.app, rally_id, title="After")
    reply = giulia.post_form("b", f"/rallies/{rally_id}/edit", edit, token_from="a")
    assert reply.status == 302, reply.text
    assert rally_title(seed, rally_id) == "After"

    # Signing out on B ends the session's record in the database: its cookie opens nothing
    # on A any more.
    copied = Visitor(cluster, cookies=dict(giulia.cookies))
    assert giulia.post_form("b", "/auth/logout", {}, page="/").status == 302
    replayed = copied.get("a", "/rallies/mine")
    assert replayed.status == 302
    assert "/auth/login" in replayed.headers["Location"]


@pytest.mark.parametrize(
    ("route", "first_address"),
    [(cycle(["a", "b"]), 10), (repeat("proxy"), 12)],
    ids=["instances-in-turn", "through-the-proxy"],
)
def test_sign_up_limits_add_up_across_instances(cluster, seed, visitor, route, first_address):
    rally_id = seed.rallies()
    client = visitor(source_address(first_address))
    statuses = [
        sign_up(client, next(route), rally_id, f"limit{first_address}.{n}@example.org").status
        for n in range(SIGNUP_LIMIT + 1)
    ]
    assert statuses == [302] * SIGNUP_LIMIT + [429]
    # Another address is counted apart (through the proxy: by the X-Forwarded-For nginx set).
    other = visitor(source_address(first_address + 1))
    assert sign_up(other, next(route), rally_id, f"other{first_address}@example.org").status == 302


def test_a_file_uploaded_on_one_instance_downloads_from_the_other(cluster, seed, visitor):
    email = "ingrid.cluster@hq.example.org"
    seed.users(email=email, role=Role.HQ)
    campaign_id = seed.campaigns()
    hq = visitor()
    hq.sign_in("a", email, seed)
    leaflet = b"Bring water, a charged phone and the legal-aid number.\n"
    reply = hq.post_form(
        "a",
        "/hq/toolkits/new",
        {
            "campaign_id": str(campaign_id),
            "title": "Safety leaflet",
            "kind": "safety_guide",
            "language": "en",
            "audience": "public",
        },
        files={"file": ("leaflet.txt", leaflet, "text/plain")},
    )
    assert reply.status == 302, reply.text
    with seed.app.app_context():
        item_id = db.session.scalar(
            select(ToolkitItem.id).where(ToolkitItem.title == "Safety leaflet")
        )

    download = visitor().get("b", f"/toolkits/{item_id}/download")

    assert download.status == 200
    assert download.body == leaflet


def test_a_sign_up_through_the_proxy_is_confirmed_by_mail_from_the_worker(
    cluster, seed, visitor, mailbox
):
    rally_id = seed.rallies(title="Mailed through the queue")
    email = "lena.cluster@example.net"

    reply = sign_up(visitor(source_address(20)), "proxy", rally_id, email)

    assert reply.status == 302
    assert reply.headers["Location"].endswith(f"/rallies/{rally_id}/signed-up")
    delivery = mailbox.wait_for(email, "/s/")
    assert delivery.over_tls
    assert re.search(re.escape(cluster.base_url) + r"/s/\S{16,}", delivery.message.get_content())
    # gunicorn only queued it; the RQ worker delivered it.
    assert "Job OK" in cluster.log_text("worker.log")


# --- the cache ----------------------------------------------------------------------------


def test_the_proxy_keeps_an_anonymous_rally_page_for_everyone(cluster, seed, visitor):
    page = f"/rallies/{seed.rallies(title='Kept by the proxy')}"
    gzip = {"Accept-Encoding": "gzip"}

    first = visitor().get("proxy", page, gzip)
    second = visitor().get("proxy", page, gzip)

    assert (first.status, second.status) == (200, 200)
    assert (first.cache, second.cache) == ("MISS", "HIT")
    assert second.headers["Cache-Control"] == "public, max-age=50, stale-while-revalidate=10"
    assert "Set-Cookie" not in second.headers
    assert second.headers["Content-Encoding"] == "gzip"
    assert second.body == first.body
    assert "Kept by the proxy" in second.text


def test_a_signed_in_organizer_never_gets_or_leaves_a_cached_page(cluster, seed, visitor):
    email = "amir.cluster@example.org"
    rally_id = seed.rallies(organizer_id=seed.users(email=email), title="Seen by all")
    page, edit_link = f"/rallies/{rally_id}", f'href="/rallies/{rally_id}/edit"'
    anonymous = visitor()
    assert [anonymous.get("proxy", page).cache for _ in range(2)] == ["MISS", "HIT"]
    organizer = visitor()
    organizer.sign_in("proxy", email, seed)

    for _ in range(2):
        own = organizer.get("proxy", page)
        assert own.status == 200
        assert own.cache in ("MISS", "BYPASS")
        assert own.headers["Cache-Control"] == "private, no-store"
        assert edit_link in own.text

    after = visitor().get("proxy", page)
    assert after.cache == "HIT"
    assert edit_link not in after.text


@pytest.mark.parametrize(
    ("change", "status", "seen_after"),
    [
        ({"capacity": "40"}, 200, "40 places left."),
        # A new title goes back to HQ's review: the page leaves the public site.
        ({"title": "Renamed, to be reviewed"}, 404, None),
        # The emergency take-down: gone for the public, not "cancelled".
        (None, 404, None),
    ],
    ids=["capacity", "back-to-review", "take-down"],
)
def test_an_edit_shows_through_the_proxy_within_the_pages_lifetime(
    cluster, seed, visitor, change, status, seen_after
):
    """nginx's clock is moved forward instead of waiting: a minute passes in a moment."""
    if not cluster.fake_clock:
        pytest.skip("Debian's faketime is missing (`make cluster` installs it)")
    email = f"rosa.{secrets.token_hex(3)}@example.org"
    rally_id = seed.rallies(organizer_id=seed.users(email=email), title="At noon", **STOCKHOLM)
    page = f"/rallies/{rally_id}"
    anonymous = visitor()
    kept_at = time.monotonic()
    first = anonymous.get("proxy", page)
    max_age, stale = map(
        int,
        re.fullmatch(
            r"public, max-age=(\d+), stale-while-revalidate=(\d+)", first.headers["Cache-Control"]
        ).groups(),
    )
    assert max_age + stale == 60
    assert anonymous.get("proxy", page).cache == "HIT"

    organizer = visitor()
    organizer.sign_in("a", email, seed)
    if change is None:
        manage = f"/rallies/{rally_id}/manage"
        reply = organizer.post_form(
            "a", f"/rallies/{rally_id}/take-down", {"confirm": "yes"}, page=manage
        )
    else:
        edit = _edit_form(seed.app, rally_id, **change)
        reply = organizer.post_form("a", f"/rallies/{rally_id}/edit", edit)
    assert reply.status == 302
    assert organizer.get("b", page).status == 200  # the organizer sees the change at once

    # Until two or three seconds before the page's max-age is over (by nginx's clock), the
    # proxy may answer with the page it holds…
    cluster.advance_proxy_clock(max_age - 2 - math.ceil(time.monotonic() - kept_at))
    held = anonymous.get("proxy", page)
    assert (held.cache, held.status) == ("HIT", 200)
    assert held.body == first.body
    # …then, within stale-while-revalidate, still with it, at once, while it asks the app
    # again in the background…
    cluster.advance_proxy_clock(4)
    during = anonymous.get("proxy", page)
    assert (during.cache, during.status) == ("STALE", 200)
    assert during.body == first.body
    if seen_after:
        # …and an edit the public may see replaces it as soon as the app has answered.
        deadline = time.monotonic() + 10
        while (fresh := anonymous.get("proxy", page)).cache != "HIT":
            assert time.monotonic() < deadline, fresh.cache
            time.sleep(0.1)
        assert seen_after in fresh.text and seen_after not in first.text
        return
    # A page the public may no longer see is never kept: once the stale window is over too
    # (a minute in all), the proxy asks the app and passes its 404 on.
    cluster.advance_proxy_clock(stale)
    gone = anonymous.get("proxy", page)
    assert (gone.cache, gone.status) == ("EXPIRED", status)
    assert anonymous.get("proxy", page).status == status


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/rallies/{id}", "text/html"),
        ("/rallies/{id}.ics", "text/calendar"),
        ("/api/v1/events", "application/geo+json"),
        ("{stylesheet}", "text/css"),
        ("{script}", "javascript"),
    ],
)
def test_the_proxy_compresses_text(cluster, seed, visitor, path, content_type):
    rally_id = seed.rallies(description="Bring a sign. " * 40)
    html = visitor().get("proxy", f"/rallies/{rally_id}").text
    assets = {
        "stylesheet": re.search(r'<link[^>]+href="(/static/[^"]+\.css[^"]*)"', html)[1],
        "script": re.search(r'<script[^>]+src="(/static/[^"]+\.js[^"]*)"', html)[1],
    }
    url = path.format(id=rally_id, **assets)

    plain = visitor().get("proxy", url)
    packed = visitor().get("proxy", url, {"Accept-Encoding": "gzip"})

    assert packed.status == 200
    assert content_type in packed.headers["Content-Type"]
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.raw) < len(plain.raw)
    assert packed.body == plain.body


# --- an instance dies ---------------------------------------------------------------------

CLIENTS = 24
SIGNUPS_EACH = 6
RETRIES = 10


def test_killing_an_instance_mid_burst_loses_and_doubles_no_sign_up(cluster, seed):
    rally_ids = [seed.rallies(title=f"Burst {n}") for n in range(3)]
    acknowledged: list[str] = []
    answers: Counter = Counter()
    failures: Counter = Counter()
    lock = threading.Lock()

    def supporter(number: int) -> None:
        """Sign up a few addresses, each until acknowledged, as a browser user would retry
        after an error page."""
        client = Visitor(cluster, source_address(100 + number))
        for k in range(SIGNUPS_EACH):
            email = f"burst{number}.{k}@example.org"
            rally_id = rally_ids[(number + k) % len(rally_ids)]
            for _attempt in range(RETRIES):
                try:
                    reply = sign_up(client, "proxy", rally_id, email)
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        failures[type(error).__name__] += 1
                    continue
                if reply.status in (502, 503, 504):
                    with lock:
                        failures[reply.status] += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    answers[reply.status] += 1
                    if reply.status == 302:
                        acknowledged.append(email)
                break

    threads = [threading.Thread(target=supporter, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    total = CLIENTS * SIGNUPS_EACH
    deadline = time.monotonic() + 30
    while len(acknowledged) < total // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    cluster.kill_instance("b")
    acknowledged_at_kill = len(acknowledged)
    for thread in threads:
        thread.join(timeout=60)

    try:
        assert answers == {302: total}, f"answers {answers}, failures on the way {failures}"
        assert acknowledged_at_kill < total, "the burst was over before the kill"
        with seed.app.app_context():
            stored = db.session.scalars(
                select(Signup.email).where(Signup.rally_id.in_(rally_ids))
            ).all()
        assert sorted(stored) == sorted(acknowledged)
        assert len(set(acknowledged)) == total
    finally:
        cluster.start_instance("b")
