"""The production configuration end to end over HTTPS, as people and attackers meet it.

An organizer registers, confirms and registers a rally; HQ approves it; a supporter signs up
and opens the manage link from the e-mail; a forged Host is refused; and the logs of the whole
run hold none of the personal data or secrets that went through it. The tests share one
gunicorn and run in this order; the last one reads what the others recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pyotp
import pytest
import redis

from tests.conftest import csrf_from
from tests.production.conftest import REDIS_URL, open_page
from tests.rally_data import next_year


@dataclass(frozen=True)
class Person:
    """Someone this run types in: a name, an e-mail and, for accounts, a password."""

    name: str
    email: str
    password: str = ""


ORGANIZER = Person("Giulia Rossi", "giulia.rossi@example.org", "violet-harbour-2017")
SUPPORTER = Person("Лена Петрова", "lena.petrova@example.net")
# An exact pin typed into the form: it must reach the page and the e-mail, never a log.
LATITUDE, LONGITUDE = "40.17766", "44.51262"
RALLY_TITLE = "Justice for Chechnya — Yerevan"
HOSTILE_HOSTS = ["evil.example", "evil.example:443", "localhost.evil.example"]


@dataclass
class Secrets:
    """What the run typed or received that no log line may carry; the tests add tokens."""

    texts: set[str]
    tokens: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def must_not_be_logged(site) -> Secrets:
    """The people's data of this run, and (filled in by the tests) the tokens mailed to them."""
    return Secrets(
        {
            site.hq_email,
            site.hq_password,
            ORGANIZER.email,
            ORGANIZER.password,
            SUPPORTER.email,
            LATITUDE,
            LONGITUDE,
            # Whole names and each part of them, which a log could carry alone.
            *(
                part
                for name in (site.hq_name, ORGANIZER.name, SUPPORTER.name)
                for part in [name, *name.split()]
            ),
        }
    )


def link_from(delivery, path_prefix: str) -> str:
    """The first absolute link in a message whose path starts with ``path_prefix``."""
    body = delivery.message.get_content()
    match = re.search(r"https?://[^/\s]+" + re.escape(path_prefix) + r"\S+", body)
    assert match, f"no {path_prefix} link in the message"
    return match.group(0)


def token_of(link: str, path_prefix: str) -> str:
    """The secret token at the end of a link's path."""
    token = urlsplit(link).path.removeprefix(path_prefix)
    assert len(token) >= 16, f"{link} carries no token"
    return token


def _sign_in(page, person: Person) -> str | None:
    """Sign in; an HQ account without a second factor sets one up on the way, from the key
    the page shows (returned: it must never reach a log)."""
    page.goto("/auth/login")
    page.get_by_label("E-mail").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    signed_in = page.get_by_role("button", name="Sign out")
    setup = page.get_by_role("heading", name="Set up two-factor sign-in")
    signed_in.or_(setup).wait_for()
    if not setup.count():
        return None
    key = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    page.get_by_role("link", name="I have saved my recovery codes").click()
    signed_in.wait_for()
    return key


def _session_cookie(page) -> dict:
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "rallyhub_session"]
    return cookie


def _walk(browser, site, mailbox, secrets_seen) -> None:
    hq = open_page(browser, site.base_url)
    organizer = open_page(browser, site.base_url)
    supporter = open_page(browser, site.base_url)
    try:
        response = hq.goto("/auth/login")
        assert response.url.startswith("https://")
        assert "max-age=" in response.headers["strict-transport-security"]
        key = _sign_in(hq, Person(site.hq_name, site.hq_email, site.hq_password))
        assert key, "the HQ account made by create-hq sets up two-factor sign-in first"
        secrets_seen.tokens.add(key)
        cookie = _session_cookie(hq)
        assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Lax")

        hq.get_by_role("link", name="Campaigns").click()
        hq.get_by_role("link", name="New campaign").click()
        hq.get_by_label("Name", exact=True).fill("Justice for Chechnya")
        hq.get_by_label("Address name (slug)").fill("justice-for-chechnya")
        hq.get_by_label("Hashtag").fill("#JusticeForChechnya")
        hq.get_by_label("Starts on").fill(date.today().isoformat())
        hq.get_by_role("button", name="Save campaign").click()
        hq.get_by_text("The campaign has been created.").wait_for()

        organizer.goto("/")
        organizer.get_by_role("link", name="Register to organize").click()
        organizer.get_by_label("Display name").fill(ORGANIZER.name)
        organizer.get_by_label("E-mail").fill(ORGANIZER.email)
        organizer.get_by_label("Password", exact=True).fill(ORGANIZER.password)
        organizer.get_by_label("Repeat the password").fill(ORGANIZER.password)
        organizer.get_by_role("button", name="Create account").click()
        organizer.get_by_role("heading", name="Check your e-mail").wait_for()

        confirmation = mailbox.wait_for(ORGANIZER.email, "/auth/confirm/")
        assert confirmation.over_tls
        link = link_from(confirmation, "/auth/confirm/")
        assert link.startswith(f"{site.base_url}/auth/confirm/")
        secrets_seen.tokens.add(token_of(link, "/auth/confirm/"))
        organizer.goto(link)
        organizer.get_by_role("button", name="Confirm my e-mail").click()
        organizer.get_by_text("Your e-mail is confirmed").wait_for()
        _sign_in(organizer, ORGANIZER)

        year = next_year()
        organizer.get_by_role("link", name="My rallies").click()
        organizer.get_by_role("link", name="Register a rally").click()
        organizer.get_by_label("Title").fill(RALLY_TITLE)
        organizer.get_by_label("What is it about?").fill("Bring a sign.")
        organizer.get_by_label("City", exact=True).fill("Երևան")
        organizer.get_by_label("Meeting point", exact=True).fill("Freedom Square")
        organizer.get_by_label("Exact pin: latitude").fill(LATITUDE)
        organizer.get_by_label("Exact pin: longitude").fill(LONGITUDE)
        organizer.get_by_label("Starts (local time)").fill(f"{year}-06-10T18:00")
        organizer.get_by_label("Ends (local time)").fill(f"{year}-06-10T20:00")
        organizer.get_by_role("button", name="Save rally").click()
        organizer.get_by_text("HQ will review your rally soon").wait_for()
        rally_url = organizer.url
        assert re.fullmatch(re.escape(site.base_url) + r"/rallies/\d+(/.*)?", rally_url)

        hq.get_by_role("link", name="Review").click()
        hq.get_by_role("heading", name=RALLY_TITLE).wait_for()
        hq.get_by_role("button", name="Approve").click()
        hq.get_by_text("is approved and public").wait_for()

        supporter.goto(rally_url)
        supporter.get_by_role("heading", name=RALLY_TITLE).wait_for()
        supporter.get_by_label("Your name").fill(SUPPORTER.name)
        supporter.get_by_label("E-mail").fill(SUPPORTER.email)
        supporter.get_by_label("The organizers may contact me").check()
        supporter.get_by_role("button", name="Sign up").click()
        supporter.get_by_role("heading", name="Thank you for signing up").wait_for()

        signup_mail = mailbox.wait_for(SUPPORTER.email, "/s/")
        assert signup_mail.over_tls
        assert f"{LATITUDE}, {LONGITUDE}" in signup_mail.message.get_content()
        manage = link_from(signup_mail, "/s/")
        assert manage.startswith(f"{site.base_url}/s/")
        secrets_seen.tokens.add(token_of(manage, "/s/"))
        # Opened in a fresh context, as from a mail program: the link alone is the key.
        reader = open_page(browser, site.base_url)
        try:
            reader.goto(manage)
            reader.get_by_text("You have a place.").wait_for()
            reader.get_by_role("heading", name=RALLY_TITLE).wait_for()
            assert reader.get_by_label("Your name").input_value() == SUPPORTER.name
            assert reader.foreign_requests == []
        finally:
            reader.context.close()

        # The organizer moves the rally by an hour; the RQ worker mails the supporter the new
        # time beside the old one, with the rally's calendar file.
        organizer.goto(rally_url)
        organizer.get_by_role("link", name="Edit", exact=True).click()
        organizer.get_by_label("Starts (local time)").fill(f"{year}-06-10T19:00")
        organizer.get_by_label("Ends (local time)").fill(f"{year}-06-10T21:00")
        organizer.get_by_role("button", name="Save rally").click()
        organizer.get_by_role("heading", name=RALLY_TITLE).wait_for()
        notice = mailbox.wait_for(SUPPORTER.email, "changed its time")
        # CLDR puts a narrow no-break space before "PM".
        lines = notice.message.get_content().replace("\u202f", " ").splitlines()
        (before,) = [line for line in lines if line.startswith("Before:")]
        (now,) = [line for line in lines if line.startswith("When:")]
        assert "6:00 PM" in before and "7:00 PM" in now, lines
        (calendar,) = [p for p in notice.message.iter_attachments()]
        assert calendar.get_content_type() == "text/calendar"
        assert "DTSTART;TZID=Asia/Yerevan" in calendar.get_content()

        for page in (hq, organizer, supporter):
            assert page.foreign_requests == []
            assert page.dialogs == []
    finally:
        for page in (hq, organizer, supporter):
            page.context.close()


@pytest.mark.browser
def test_organizer_hq_and_supporter_walk_through_over_https(
    chromium, site, mailbox, must_not_be_logged
):
    chromium.run(lambda browser: _walk(browser, site, mailbox, must_not_be_logged))


def _form_session(site, path: str, host: str) -> tuple[str, str]:
    """GET a form as a browser would: its session cookie and CSRF token."""
    reply = site.request("GET", path, host=host)
    assert reply.status == 200
    cookie = SimpleCookie()
    for header in reply.headers.get_all("Set-Cookie") or []:
        cookie.load(header)
    return f"rallyhub_session={cookie['rallyhub_session'].value}", csrf_from(reply.body)


def _post_reset(site, email: str, *, host: str, form_host: str, headers=None):
    cookie, token = _form_session(site, "/auth/reset", form_host)
    return site.request(
        "POST",
        "/auth/reset",
        host=host,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            "Origin": f"https://{host}",
            "Referer": f"https://{host}/auth/reset",
            **(headers or {}),
        },
        body=urlencode({"csrf_token": token, "email": email}),
    )


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_a_forged_host_gets_400_and_no_mail(site, mailbox, host):
    before = len(mailbox.all())
    for path in ("/", "/auth/login", "/healthz"):
        assert site.request("GET", path, host=host).status == 400, path

    reply = _post_reset(site, site.hq_email, host=host, form_host=site.host)

    assert reply.status == 400
    # The good-host control below proves mail would have arrived by now.
    control = _post_reset(site, site.hq_email, host=site.host, form_host=site.host)
    assert control.status == 302
    mailbox.wait_for(site.hq_email, "/auth/reset/", since=before)
    assert len(mailbox.all()) == before + 1
    assert not [d for d in mailbox.all() if "evil.example" in d.text]


def test_reset_link_comes_from_base_url_whatever_the_request_names(
    site, mailbox, must_not_be_logged
):
    # A trusted host name on another port, and forwarded headers no proxy vouches for.
    other, claimed_client = "localhost:1", "203.0.113.9"
    must_not_be_logged.texts.add(claimed_client)
    before = len(mailbox.all())
    reply = _post_reset(
        site,
        site.hq_email,
        host=other,
        form_host=other,
        headers={
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-For": claimed_client,
        },
    )
    assert reply.status == 302
    assert "max-age=" in reply.headers["Strict-Transport-Security"]
    delivery = mailbox.wait_for(site.hq_email, "/auth/reset/", since=before)
    link = link_from(delivery, "/auth/reset/")
    assert link.startswith(f"{site.base_url}/auth/reset/")
    must_not_be_logged.tokens.add(token_of(link, "/auth/reset/"))
    assert "evil.example" not in delivery.text


def test_rate_limits_are_counted_in_redis_for_all_workers(site):
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"*{site.redis_prefix}*"))
    finally:
        client.close()
    assert keys, "the limiter kept nothing in Redis: each worker would count on its own"


def test_logs_of_the_whole_run_hold_no_personal_data_or_secret(site, must_not_be_logged):
    if not must_not_be_logged.tokens:
        pytest.skip("no token was recorded: run the whole module")
    site.stop()
    log = site.log_text()
    lines = log.splitlines()
    assert any('"GET /healthz"' in line for line in lines), "the access log was not captured"
    assert any('"POST /auth/reset"' in line for line in lines)

    leaks = {
        text: [line for line in lines if text.casefold() in line.casefold()]
        for text in sorted(must_not_be_logged.texts | must_not_be_logged.tokens)
    }
    assert {text: found for text, found in leaks.items() if found} == {}
    # gunicorn names the address it listens on; any other 127.0.0.1 is a client's.
    listening = f"127.0.0.1:{site.port}"
    assert [line for line in lines if "127.0.0.1" in line.replace(listening, "")] == []
