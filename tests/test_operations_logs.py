"""Operators' logs: one JSON line a request and a record, request ids, and no one's data."""

from __future__ import annotations

import json
import logging
import re
import runpy
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rallyhub import create_app
from rallyhub.config import ConfigError
from rallyhub.extensions import db
from tests.conftest import TEST_SETTINGS, link_in, post_form, serve

NAME, EMAIL = "Ofelia Marchetti-Zanzotto", "ofelia.zanzotto@example.org"
CLIENT_ADDRESS = "198.51.100.23"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(make_app):
    """The app under test writes JSON logs (the process logs as its latest app says, so the
    fixtures that make records must use this one)."""
    return make_app(LOG_FORMAT="json")


def json_lines(capsys) -> tuple[str, list[dict]]:
    """What the app wrote to standard error, and each of its lines parsed as JSON."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    return err, [json.loads(line) for line in lines]


def request_lines(entries: list[dict]) -> list[dict]:
    return [entry for entry in entries if entry["logger"] == "rallyhub.requests"]


def test_each_request_is_one_json_line(app, capsys):
    capsys.readouterr()
    response = app.test_client().get("/")
    assert response.status_code == 200
    _err, entries = json_lines(capsys)
    (line,) = request_lines(entries)
    assert line["level"] == "INFO"
    assert (line["method"], line["endpoint"], line["status"]) == ("GET", "map.index", 200)
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 60_000
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(line["request_id"])
    written = datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
    assert line["time"].endswith("Z") and abs((datetime.now(UTC) - written).total_seconds()) < 60


def test_requests_no_route_answers_are_logged_without_an_endpoint(app, capsys):
    capsys.readouterr()
    app.test_client().get("/no/such/page?q=secret")
    _err, entries = json_lines(capsys)
    (line,) = request_lines(entries)
    assert (line["endpoint"], line["status"]) == (None, 404)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("3f2b8c1d9e0a4b5c8d7e6f5a4b3c2d1e", True),  # nginx's $request_id
        ("123e4567-e89b-12d3-a456-426614174000", True),  # a UUID
        ("edge.req_42", True),
        ("x" * 64, True),
        ("x" * 65, False),
        (EMAIL, False),
        ("Ofelia Marchetti", False),
        ("-starts-with-a-dash", False),
        ("", False),
        ("<script>", False),
    ],
)
def test_a_safe_incoming_request_id_is_kept_and_anything_else_replaced(app, capsys, given, kept):
    capsys.readouterr()
    response = app.test_client().get("/healthz/live", headers={"X-Request-ID": given})
    returned = response.headers["X-Request-ID"]
    if kept:
        assert returned == given
    else:
        assert returned != given and GENERATED_ID.fullmatch(returned)
    _err, entries = json_lines(capsys)
    assert request_lines(entries)[0]["request_id"] == returned


def test_every_answer_gets_its_own_request_id_in_text_mode_too(make_app, caplog):
    client = make_app(LOG_FORMAT="text").test_client()
    first = client.get("/healthz/live").headers["X-Request-ID"]
    second = client.get("/healthz/live").headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second) and first != second
    # gunicorn's access log has the requests in text mode: no line of our own.
    assert not [r for r in caplog.records if r.name == "rallyhub.requests"]


def test_other_records_are_json_lines_with_their_request_id(app, capsys):
    @app.get("/test-boom")
    def boom():
        logging.getLogger("rallyhub.test").warning("about to fail for %s", "a reason")
        raise RuntimeError("failed for " + NAME)

    capsys.readouterr()
    response = app.test_client().get("/test-boom")
    assert response.status_code == 500
    err, entries = json_lines(capsys)
    request_id = response.headers["X-Request-ID"]
    warning = next(e for e in entries if e["logger"] == "rallyhub.test")
    assert warning["message"] == "about to fail for a reason"
    assert warning["level"] == "WARNING" and warning["request_id"] == request_id
    error = next(e for e in entries if e.get("error"))
    assert error["error"] == "RuntimeError" and error["request_id"] == request_id
    assert "test_operations_logs.py" in error["traceback"]
    # The exception's message can quote what a person typed: it is never written.
    assert NAME not in err and "Marchetti" not in err


def test_json_logs_hold_no_personal_data(app, rallies, outbox, capsys):
    rally_id = rallies(title="Rally in Bologna")
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = CLIENT_ADDRESS
    capsys.readouterr()
    response = post_form(
        browser,
        f"/rallies/{rally_id}/signup",
        {"name": NAME, "email": EMAIL, "consent": "y"},
        page=f"/rallies/{rally_id}",
    )
    assert response.status_code == 302
    manage_path = link_in(outbox()[-1], "/s/")
    token = manage_path.rsplit("/", 1)[1]
    assert browser.get(manage_path).status_code == 200
    assert browser.get(f"/near?q=Bologna&email={EMAIL}").status_code == 200
    # A path that names a token but no route: still nothing of it in the line.
    browser.get(f"/signups/{token}/nothing-here")

    err, entries = json_lines(capsys)
    assert len(request_lines(entries)) >= 5
    assert {"signups.manage", "map.near"} <= {e["endpoint"] for e in request_lines(entries)}
    for private in (NAME, "Marchetti", EMAIL, "zanzotto", token, CLIENT_ADDRESS, "q=", "Bologna"):
        assert private not in err


def test_the_development_servers_lines_are_json_without_address_query_or_token(app, capsys):
    token = "k" * 43
    with serve(app) as url:
        for path in ("/near?q=Bologna", f"/s/{token}"):
            try:
                urllib.request.urlopen(url + path, timeout=10).close()  # noqa: S310
            except urllib.error.HTTPError as error:
                error.close()
    err, entries = json_lines(capsys)
    served = [e for e in entries if e["logger"] == "werkzeug"]
    assert len(served) == 2, err
    assert "Bologna" not in err and token not in err and "127.0.0.1 -" not in err


def test_log_format_is_text_or_json(tmp_path, monkeypatch):
    settings = {**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app({**settings, "INSTANCE_PATH": str(tmp_path / "a"), "LOG_FORMAT": "xml"})
    monkeypatch.setenv("LOG_FORMAT", " JSON ")
    app = create_app({**settings, "INSTANCE_PATH": str(tmp_path / "b")})
    assert app.config["LOG_FORMAT"] == "json"
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("log_format", "access_log"), [("text", "-"), ("json", None)])
def test_gunicorn_leaves_request_lines_to_the_app_with_json_logs(
    monkeypatch, capsys, log_format, access_log
):
    from gunicorn.config import Config

    monkeypatch.setenv("LOG_FORMAT", log_format)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["accesslog"] == access_log
    config = Config()
    config.set("errorlog", "-")
    logger = settings["PrivateLogger"](config)
    try:
        logger.error("worker %s timed out", 42)
    finally:
        for handler in list(logger.error_log.handlers):
            logger.error_log.removeHandler(handler)
    (line,) = capsys.readouterr().err.splitlines()
    if log_format == "json":
        entry = json.loads(line)
        assert (entry["level"], entry["message"]) == ("ERROR", "worker 42 timed out")
    else:
        assert line.endswith("[ERROR] worker 42 timed out")
