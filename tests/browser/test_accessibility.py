"""WCAG 2.1 AA on every page of every role: axe-core in Chromium finds nothing serious, on a
desktop and on a phone.

The pages are listed below as visits; a GET route of the URL map that no visit opens and no
exemption explains fails the suite, so a new page cannot go unchecked. One app, one world of
records and one signed-in browser context per role serve the whole module, to keep it fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from werkzeug.exceptions import HTTPException

from rallyhub import create_app
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import RallyStatus, Visibility
from tests.browser.test_rally_flow import _sign_in
from tests.conftest import TEST_SETTINGS, _empty_tables, serve
from tests.factories import DEFAULT_PASSWORD, CampaignFactory, RallyFactory, UserFactory
from tests.fuzzing import build_world

AXE = Path(__file__).parent / "vendor" / "axe-core" / "4.14.1" / "axe.min.js"
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
FAILING_IMPACTS = {"serious", "critical"}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 720}

# GET routes that answer no HTML page, and why.
EXEMPT = {
    "api.events": "JSON feed for other sites",
    "api.ping": "JSON health answer",
    "api.places": "JSON place suggestions",
    "campaign_rallies.campaign_calendar": "iCalendar file",
    "health.healthz": "plain-text health check",
    "health.live": "JSON health check",
    "health.ready": "JSON health check",
    "metrics.metrics": "Prometheus text for operators",
    "hq.attendance_csv": "CSV download",
    "hq.attendance_xlsx": "spreadsheet download",
    "hq.countries_csv": "CSV download",
    "map.points": "JSON map points",
    "rallies.calendar": "iCalendar file",
    "signups.attendees_csv": "CSV download",
    "static": "stylesheets, scripts and images",
    "toolkits.download": "an uploaded file",
    "toolkits.preview": "an image preview of an upload",
}


def _click(name: str) -> Callable:
    """A step that presses the button ``name`` and waits for the page it answers with."""

    def step(page):
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name=name, exact=True).click()
        return navigation.value

    return step


def _fill_and_click(label: str, text: str, name: str) -> Callable:
    """A step that types ``text`` into the field ``label``, then presses the button ``name``."""

    def step(page):
        page.get_by_label(label).fill(text)
        return _click(name)(page)

    return step


def _enrol_from_the_page(page):
    """A step that sets up the authenticator app from the key the page shows."""
    key = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(key).now())
    return _click("Turn on two-factor sign-in")(page)


def _password_of(email: str) -> Callable:
    """A step that gives an account's password on the sign-in page (HQ's then ask a code)."""

    def step(page):
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        return _click("Sign in")(page)

    return step


@dataclass(frozen=True)
class Visit:
    """A page as one role sees it: open ``path`` (``{name}`` filled from the records), then
    optionally ``step`` to reach a state of it (a form's errors); expect ``status`` of the
    last answer."""

    name: str
    role: str
    path: str
    status: int = 200
    step: Callable | None = None
    ready: str | None = None


MAP_READY = ".world-map .leaflet-marker-icon, .world-map .marker-cluster"
RALLY_MAP_READY = "#rally-map .leaflet-interactive"

VISITS = [
    # Anyone: the map, search, rally pages, the account pages, errors.
    Visit("home", "anonymous", "/", ready=MAP_READY),
    Visit("home-filter-error", "anonymous", "/?start=someday", status=400),
    Visit("near", "anonymous", "/near?q=Stockholm&radius_km=50", ready=MAP_READY),
    Visit("near-without-a-place", "anonymous", "/near", status=400),
    Visit("embed", "anonymous", "/embed/map", ready=MAP_READY),
    Visit("rally-public", "anonymous", "/rallies/{future_id}", ready=RALLY_MAP_READY),
    Visit(
        "rally-signup-errors",
        "anonymous",
        "/rallies/{future_id}",
        status=400,
        step=_click("Sign up"),
    ),
    Visit("rally-under-way", "anonymous", "/rallies/{approved_id}"),
    Visit("rally-protected", "anonymous", "/rallies/{protected_id}", ready=RALLY_MAP_READY),
    Visit("rally-cancelled", "anonymous", "/rallies/{cancelled_id}"),
    Visit("login", "anonymous", "/auth/login"),
    Visit("login-wrong-password", "anonymous", "/auth/login", status=400, step=_click("Sign in")),
    Visit("register", "anonymous", "/auth/register"),
    Visit(
        "register-errors", "anonymous", "/auth/register", status=400, step=_click("Create account")
    ),
    Visit("check-inbox", "anonymous", "/auth/check-inbox"),
    Visit("confirm-email", "anonymous", "/auth/confirm/{confirm_token}"),
    Visit("reset-request", "anonymous", "/auth/reset"),
    Visit("reset-password", "anonymous", "/auth/reset/{reset_token}"),
    Visit("digests-off", "anonymous", "/auth/digests/off/{digests_token}"),
    Visit("invite-signed-out", "anonymous", "/rallies/invites/{invite_token}"),
    Visit("toolkit", "anonymous", "/campaigns/{campaign_slug}/toolkit"),
    Visit("toolkit-item", "anonymous", "/toolkits/{text_item_id}"),
    Visit("not-found", "anonymous", "/no-such-page", status=404),
    Visit("language", "anonymous", "/language?next=/near%3Fq%3DRoma"),
    # A supporter, signed out, through the links of their e-mails.
    Visit("signup-thanks", "supporter", "/rallies/{future_id}/signed-up"),
    Visit("signup-manage", "supporter", "/s/{signup_token}"),
    Visit(
        "signup-confirm-cancel", "supporter", "/s/{signup_token}", step=_click("Cancel my sign-up")
    ),
    Visit("signup-cancelled", "supporter", "/s/{cancelled_token}"),
    Visit("signup-requested", "supporter", "/s/{requested_token}"),
    Visit("unsubscribe", "supporter", "/s/{signup_token}/unsubscribe"),
    Visit("safety-checkin", "supporter", "/safe/{safety_token}"),
    Visit("safety-contacts", "supporter", "/safe/{safety_token}/help"),
    Visit("safety-need-help", "supporter", "/safe/{safety_token}", step=_click("I need help")),
    # An organizer: their rallies, the rally form, the organizers' pages of a rally under way.
    Visit("my-rallies", "organizer", "/rallies/mine"),
    Visit("rally-new", "organizer", "/rallies/new"),
    Visit("rally-new-errors", "organizer", "/rallies/new", status=400, step=_click("Save rally")),
    Visit("rally-edit", "organizer", "/rallies/{approved_id}/edit"),
    Visit("rally-pending", "organizer", "/rallies/{pending_id}"),
    Visit("rally-manage", "organizer", "/rallies/{approved_id}/manage"),
    Visit(
        "rally-take-down-confirm",
        "organizer",
        "/rallies/{approved_id}/manage",
        step=_click("Take the rally down now"),
    ),
    Visit("rally-taken-down", "organizer", "/rallies/{taken_down_id}"),
    Visit("rally-translations", "organizer", "/rallies/{approved_id}/translations"),
    Visit(
        "rally-cancel-confirm",
        "organizer",
        "/rallies/{approved_id}/manage",
        step=_fill_and_click("Message to show on the rally page", "Rain.", "Cancel the rally"),
    ),
    Visit("attendees", "organizer", "/rallies/{approved_id}/attendees"),
    Visit("checkin", "organizer", "/rallies/{approved_id}/checkin"),
    Visit("message", "organizer", "/rallies/{approved_id}/message"),
    Visit("turnout", "organizer", "/rallies/{approved_id}/turnout"),
    Visit("password", "organizer", "/auth/password"),
    Visit("toolkit-organizer", "organizer", "/campaigns/{campaign_slug}/toolkit"),
    Visit("invite-accept", "invitee", "/rallies/invites/{invite_token}"),
    # HQ.
    Visit("hq-dashboard", "hq", "/hq/"),
    Visit("hq-review", "hq", "/hq/review", ready=".rally-map .leaflet-interactive"),
    Visit("hq-accounts", "hq", "/hq/accounts"),
    Visit("hq-incidents", "hq", "/hq/incidents"),
    Visit("hq-safety-contacts", "hq", "/hq/safety"),
    Visit(
        "hq-safety-contacts-errors", "hq", "/hq/safety", status=400, step=_click("Save contacts")
    ),
    Visit("hq-safety-contact-edit", "hq", "/hq/safety/{contact_id}"),
    Visit("hq-takedown", "hq", "/hq/takedown"),
    Visit(
        "hq-takedown-confirm",
        "hq",
        "/hq/takedown",
        step=_click("Take down every upcoming rally there"),
    ),
    Visit("hq-countries", "hq", "/hq/countries"),
    Visit("hq-disable-confirm", "hq", "/hq/accounts?q={emails[other]}", step=_click("Disable")),
    Visit("campaigns", "hq", "/hq/campaigns"),
    Visit("campaign-new", "hq", "/hq/campaigns/new"),
    Visit("campaign-edit", "hq", "/hq/campaigns/{campaign_id}/edit"),
    Visit("toolkits", "hq", "/hq/toolkits"),
    Visit("toolkit-new", "hq", "/hq/toolkits/new"),
    Visit("toolkit-edit", "hq", "/hq/toolkits/{text_item_id}/edit"),
    # Accounts: the display name, two-factor sign-in (the organizer sets it up here, in this
    # order), sessions; the code page, half-way through an HQ sign-in.
    Visit("account", "organizer", "/auth/account"),
    Visit("sessions", "organizer", "/auth/sessions"),
    Visit("two-factor-off", "organizer", "/auth/two-factor"),
    Visit("two-factor-setup", "organizer", "/auth/two-factor/setup"),
    Visit(
        "two-factor-setup-errors",
        "organizer",
        "/auth/two-factor/setup",
        status=400,
        step=_click("Turn on two-factor sign-in"),
    ),
    Visit("recovery-codes", "organizer", "/auth/two-factor/setup", step=_enrol_from_the_page),
    Visit("two-factor-on", "organizer", "/auth/two-factor"),
    Visit("hq-two-factor", "hq", "/auth/two-factor"),
    Visit("login-code", "anonymous", "/auth/login", step=_password_of("hqa11y@example.org")),
    Visit("login-code-wrong", "anonymous", "/auth/login/code", status=400, step=_click("Sign in")),
]

# Who signs in for each role (supporters and the anonymous do not).
ROLE_ACCOUNTS = {"organizer": "owner", "invitee": "target", "hq": "hq"}


class _AnyValue(dict):
    def __missing__(self, key):
        return "1"


def _endpoint(app, path: str) -> str | None:
    """The endpoint that answers GET ``path`` (None for a page that does not exist)."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path.split("?")[0].format_map(_AnyValue()), method="GET")
    except HTTPException:
        return None
    return endpoint


def test_every_get_route_has_a_visit_or_a_reason(app):
    served = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods}
    visited = {_endpoint(app, visit.path) for visit in VISITS} - {None}
    assert served - visited - EXEMPT.keys() == set(), "pages the accessibility test never opens"
    assert visited & EXEMPT.keys() == set(), "exempt routes that the test opens after all"
    assert EXEMPT.keys() - served == set(), "exemptions for routes that no longer exist"


@dataclass
class Site:
    """The module's app, its address and the values its visits' paths are filled with."""

    app: object
    url: str
    values: dict


@pytest.fixture(scope="module")
def site(database_url, tmp_path_factory):
    """One app and one world of records for every visit of this module."""
    directory = tmp_path_factory.mktemp("a11y")
    app = create_app(
        {
            **TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "INSTANCE_PATH": str(directory / "instance"),
            "OUTBOX_DIR": str(directory / "outbox"),
        }
    )
    world = build_world(app, tag="a11y")
    users = UserFactory(app)
    campaigns = CampaignFactory(app)
    rallies = RallyFactory(app, users, campaigns)
    common = {"organizer_id": world.user_ids["owner"], "campaign_id": world.campaign_id}
    values = {
        **vars(world),
        "future_id": rallies(
            title="Rally for the prisoners",
            description="Bring a sign.\nSee https://example.org/toolkit.",
            capacity=50,
            **common,
        ),
        "protected_id": rallies(
            title="Protected rally",
            visibility=Visibility.PROTECTED,
            city="İstanbul",
            country_code="TR",
            timezone="Europe/Istanbul",
            latitude=41.0369,
            longitude=28.985,
            **common,
        ),
        "cancelled_id": rallies(
            title="Cancelled rally",
            status=RallyStatus.CANCELLED,
            start_dt=utcnow().replace(second=0, microsecond=0) + timedelta(days=3),
            **common,
        ),
        "taken_down_id": rallies(
            title="Taken-down rally",
            status=RallyStatus.TAKEN_DOWN,
            taken_down_dt=utcnow(),
            **common,
        ),
    }
    with serve(app) as url:
        yield Site(app, url, values)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    _empty_tables(database_url)


@pytest.fixture(scope="module")
def pages(browser, site):
    """One tab per role, signed in once, its context shared by that role's visits."""
    opened = {}

    def page_for(role):
        if role not in opened:
            context = browser.new_context(base_url=site.url)
            # Nothing but this origin: tiles and everything else are refused.
            context.route("**/*", _only_local)
            page = context.new_page()
            page.set_default_timeout(10_000)
            if role in ROLE_ACCOUNTS:
                _sign_in(page, site.values["emails"][ROLE_ACCOUNTS[role]])
            opened[role] = page
        return opened[role]

    yield page_for
    for page in opened.values():
        page.context.close()


def _only_local(route):
    if route.request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.abort()


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page's document; its WCAG 2.1 A and AA violations."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern (a script
    # tag would be refused), and the CSP stays on so the page is checked as people get it.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async (options) => (await axe.run(document, options)).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target, impact: n.impact, html: n.html,
                                      summary: n.failureSummary})),
        }))""",
        AXE_OPTIONS,
    )


def _report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']}")
        for node in v["nodes"][:10]:
            lines.append(f"    {json.dumps(node['target'])}  {node['html'][:160]}")
            summary = (node["summary"] or "").replace("\n", " ")
            lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


@pytest.mark.parametrize("visit", VISITS, ids=[f"{v.role}-{v.name}" for v in VISITS])
def test_page_has_no_serious_accessibility_violation(pages, site, visit):
    page = pages(visit.role)
    response = page.goto(visit.path.format_map(site.values))
    if visit.step:
        response = visit.step(page)
    assert response.status == visit.status, f"{page.url}: {response.status}, not {visit.status}"
    if visit.ready:
        page.locator(visit.ready).first.wait_for()
    violations = axe_violations(page)
    serious = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not serious, f"{page.url}\n{_report(serious)}"
    # On a 390 px phone: axe again (the layout changes), and reflow (WCAG 1.4.10): nothing
    # makes the page scroll sideways (wide tables scroll inside their own box).
    page.set_viewport_size(PHONE)
    try:
        on_phone = [v for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS]
        assert not on_phone, f"{page.url} on a phone\n{_report(on_phone)}"
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > innerWidth + 1
                             && !e.closest('.table-scroll, .leaflet-container'))
                .slice(0, 5).map(e => e.outerHTML.slice(0, 100))"""
        )
        width = page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.set_viewport_size(DESKTOP)
    assert width <= PHONE["width"] and not wide, f"{page.url} scrolls sideways: {wide}"


def _focus(page) -> dict:
    """What has the keyboard focus: its place, its outline, whether it is on screen."""
    return page.evaluate(
        """() => {
            const e = document.activeElement, box = e.getBoundingClientRect();
            const style = getComputedStyle(e);
            return {inList: e.closest('.rally-list') !== null, skip: e.matches('.skip'),
                    onScreen: box.left >= 0 && box.top >= 0 && box.width > 0,
                    outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
                    text: e.innerText, what: e.outerHTML.slice(0, 120)};
        }"""
    )


def test_keyboard_alone_reaches_and_opens_the_list_of_rallies(pages):
    """The list is the map's alternative: Tab gets there (past the map, if it comes first)
    with a visible focus at every stop, and Enter opens the rally."""
    page = pages("anonymous")
    page.goto("/")
    page.locator(MAP_READY).first.wait_for()
    page.keyboard.press("Tab")
    first = _focus(page)
    assert first["skip"] and first["onScreen"], "the first Tab shows the skip link"
    for _ in range(100):
        page.keyboard.press("Tab")
        focus = _focus(page)
        # Every stop on the way shows where the focus is.
        assert focus["outline"] != "none" and focus["outlineWidth"] >= 2, str(focus)
        if focus["inList"]:
            break
    else:
        pytest.fail("Tab never reached the list of rallies")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=focus["text"], exact=True).wait_for()
