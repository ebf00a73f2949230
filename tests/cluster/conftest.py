"""Two instances behind nginx, started once per module (see ``environment.py``).

nginx speaks HTTPS with the production suite's certificate; the instances speak plain HTTP on
loopback ports a test may also call directly, as nginx does. Mail goes by SMTP with STARTTLS to
the production suite's in-memory mailbox. Records the tests need are made with the suite's
factories, through an app in this process on the cluster's database.
"""

from __future__ import annotations

import gzip
import http.client
import re
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from rallyhub import create_app
from rallyhub.extensions import db
from tests import factories
from tests.cluster.environment import Cluster, TLSFiles, faketime_library, nginx_missing
from tests.conftest import CSRF_RE, TEST_SETTINGS, csrf_from
from tests.production.conftest import (  # noqa: F401 (fixtures used by name)
    _database_admin_url,
    _require_redis,
    certificates,
    mailbox,
)

# Sign-ups one client address may send a minute, whichever instance counts them.
SIGNUP_LIMIT = 10


@pytest.fixture(scope="module")
def cluster(certificates, mailbox, tmp_path_factory):  # noqa: F811 (the imported fixtures)
    """Both instances, the worker and nginx, on a schema and Redis prefix of their own."""
    missing = nginx_missing()
    if missing:
        pytest.skip(missing)
    admin_url = _database_admin_url()
    _require_redis()
    environment = Cluster(
        tmp_path_factory.mktemp("cluster"),
        admin_url,
        settings={
            "SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
            # The app verifies the SMTP server's certificate against the default trust store.
            "SSL_CERT_FILE": str(certificates.ca_file),
            "RALLYHUB_RATELIMIT_SIGNUP": f"{SIGNUP_LIMIT} per minute",
        },
        tls=TLSFiles(certificates.cert_file, certificates.key_file, certificates.client_context()),
        fake_clock=faketime_library() is not None,
    )
    with environment:
        environment.migrate()
        environment.start()
        yield environment


@dataclass
class Seed:
    """The suite's factories, writing into the cluster's database from this process."""

    app: object
    users: factories.UserFactory
    campaigns: factories.CampaignFactory
    rallies: factories.RallyFactory

    def totp_code(self, email: str) -> str:
        """The code an enrolled factory account's app shows now."""
        return factories.fresh_totp_code(self.app, email)


@pytest.fixture(scope="module")
def seed(cluster, tmp_path_factory) -> Seed:
    app = create_app(
        {
            **TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": cluster.database_url,
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("seed")),
        }
    )
    users = factories.UserFactory(app)
    campaigns = factories.CampaignFactory(app)
    yield Seed(app, users, campaigns, factories.RallyFactory(app, users, campaigns))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- A client -----------------------------------------------------------------------------


@dataclass
class Reply:
    """An answer as it came, headers and (decompressed) body."""

    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def body(self) -> bytes:
        if self.headers.get("Content-Encoding") == "gzip":
            return gzip.decompress(self.raw)
        return self.raw

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def cache(self) -> str | None:
        """What nginx's cache did (HIT, MISS, EXPIRED…), None when it was not asked."""
        return self.headers.get("X-Cache-Status")


@dataclass
class Visitor:
    """A browser without scripts: one cookie jar for every origin of the cluster (they are
    the same site), a loopback address of its own, forms sent with their CSRF token, Origin
    and Referer as a browser sends them."""

    cluster: Cluster
    source: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, target: str, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request(target, "GET", path, headers=headers)

    def request(
        self,
        target: str,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request to ``target`` (``proxy`` or an instance's name), with the cookies."""
        origin = self.cluster.origin_of(target)
        sent = {"Host": origin.split("://")[1], **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = self.cluster.connection(target, source=self.source)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            connection.close()
        self._keep_cookies(reply)
        return reply

    def post_form(
        self,
        target: str,
        path: str,
        fields: dict[str, str],
        *,
        page: str | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        token_from: str | None = None,
    ) -> Reply:
        """Fetch the form's page (on ``token_from``, else ``target``) for its CSRF token, then
        send the form to ``target``, as the page's own form would."""
        page = page or path
        html = self.get(token_from or target, page).text
        if CSRF_RE.search(html):
            fields = {"csrf_token": csrf_from(html), **fields}
        origin = self.cluster.origin_of(target)
        headers = {"Origin": origin, "Referer": origin + page}
        if files:
            boundary = secrets.token_hex(12)
            body = _multipart(boundary, fields, files)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        else:
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request(target, "POST", path, body=body, headers=headers)

    def sign_in(self, target: str, email: str, seed: Seed) -> Reply:
        """Password, then (for an enrolled account) the authenticator's code."""
        fields = {"email": email, "password": factories.DEFAULT_PASSWORD}
        reply = self.post_form(target, "/auth/login", fields)
        assert reply.status == 302, reply.text
        if reply.headers["Location"].endswith("/auth/login/code"):
            code = {"code": seed.totp_code(email)}
            reply = self.post_form(target, "/auth/login", code, page="/auth/login/code")
            assert reply.status == 302, reply.text
        return reply

    def _keep_cookies(self, reply: Reply) -> None:
        for header in reply.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or re.search(r"1970", morsel["expires"]):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


def _multipart(boundary: str, fields: dict[str, str], files) -> bytes:
    """A multipart/form-data body, as a browser sends a form with a file."""
    parts = []
    for name, value in fields.items():
        head = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{head}\r\n\r\n{value}\r\n".encode())
    for name, (filename, data, content_type) in files.items():
        head = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'
        head += f"\r\nContent-Type: {content_type}"
        parts.append(f"--{boundary}\r\n{head}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@pytest.fixture
def visitor(cluster):
    """``visitor(source="127.0.0.9")`` → a new Visitor with an empty cookie jar."""
    return lambda source="127.0.0.1": Visitor(cluster, source)
