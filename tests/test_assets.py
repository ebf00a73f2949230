"""Static files at fingerprinted addresses, and the gazetteer built before gunicorn forks."""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import logging
import re
from types import SimpleNamespace

from bs4 import BeautifulSoup

from rallyhub import ROOT, assets
from rallyhub.places import gazetteer
from tests.conftest import AuthActions

YEAR = "public, max-age=31536000, immutable"


def _stylesheet(client) -> str:
    soup = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    return next(
        link["href"] for link in soup.select('link[rel="stylesheet"]') if "app.css" in link["href"]
    )


def test_pages_link_static_files_by_the_digest_of_their_bytes(app, client):
    href = _stylesheet(client)
    version = re.fullmatch(r"/static/css/app\.css\?v=([0-9a-f]+)", href).group(1)
    on_disk = (app.static_folder + "/css/app.css").encode()
    with open(on_disk, "rb") as handle:
        assert hashlib.file_digest(handle, "blake2b").hexdigest().startswith(version)
    response = client.get(href)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == YEAR


def test_a_stale_or_missing_fingerprint_is_revalidated(client):
    for address in ("/static/css/app.css?v=0123456789ab", "/static/css/app.css"):
        response = client.get(address)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, no-cache"
        etag = response.headers["ETag"]
        assert client.get(address, headers={"If-None-Match": etag}).status_code == 304


def test_signed_in_people_get_the_same_long_lived_static_files(client, users):
    users(email="org@example.org")
    AuthActions(client).login("org@example.org")
    assert client.get(_stylesheet(client)).headers["Cache-Control"] == YEAR


def test_a_changed_file_gets_a_new_fingerprint(tmp_path):
    target = tmp_path / "site.css"
    target.write_text("body { color: black }")
    first = assets.fingerprint(str(tmp_path), "site.css")
    target.write_text("body { color: purple; }")
    second = assets.fingerprint(str(tmp_path), "site.css")
    assert first and second and first != second
    assert assets.fingerprint(str(tmp_path), "missing.css") is None
    assert assets.fingerprint(str(tmp_path), "../../etc/\0passwd") is None


def test_gunicorn_builds_the_gazetteer_before_it_forks(app, monkeypatch):
    spec = importlib.util.spec_from_file_location("gunicorn_settings", ROOT / "gunicorn.conf.py")
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    assert settings.preload_app is True
    monkeypatch.setattr(gazetteer, "_instance", None)
    server = SimpleNamespace(log=logging.getLogger("gunicorn.error"))
    try:
        settings.when_ready(server)
        assert gazetteer._instance is not None
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
