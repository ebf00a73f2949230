"""Reachable when it matters: an onion address Tor Browser is told about."""

from __future__ import annotations

ONION = "rallyhubexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"


def test_pages_name_the_onion_service_when_there_is_one(make_app, rallies):
    app = make_app(ONION_ADDRESS=ONION)
    client = app.test_client()
    rally_id = rallies()
    response = client.get(f"/rallies/{rally_id}?text=en")
    assert response.headers["Onion-Location"] == f"http://{ONION}/rallies/{rally_id}?text=en"
    assert client.get("/").headers["Onion-Location"] == f"http://{ONION}/"
    # Data and files are not pages.
    assert "Onion-Location" not in client.get("/api/v1/ping").headers


def test_no_onion_header_without_an_onion_service(client):
    assert "Onion-Location" not in client.get("/").headers
