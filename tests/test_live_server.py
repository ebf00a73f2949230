"""The tests' own live server: nothing of the app runs on into a test's teardown."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from flask import Flask

from tests.conftest import serve


def _slow_app(started: threading.Event, finished: list[str]) -> Flask:
    app = Flask(__name__)

    @app.get("/slow")
    def slow():
        started.set()
        time.sleep(2)
        finished.append("slow")
        return "done"

    return app


def test_leaving_serve_waits_for_a_request_in_flight():
    started, finished = threading.Event(), []
    with serve(_slow_app(started, finished)) as url:
        client = threading.Thread(
            target=lambda: urllib.request.urlopen(f"{url}/slow", timeout=10).read()  # noqa: S310
        )
        client.start()
        assert started.wait(5)
    assert finished == ["slow"], "serve() returned while the app still answered a request"
    client.join(5)


def test_a_connection_left_open_and_idle_does_not_hold_the_teardown():
    started, finished = threading.Event(), []
    begun = time.monotonic()
    with serve(_slow_app(started, finished)) as url:
        host, port = url.removeprefix("http://").split(":")
        idle = socket.create_connection((host, int(port)), timeout=10)
        time.sleep(0.1)
    assert time.monotonic() - begun < 8
    assert idle.recv(1) == b"", "the idle connection was not ended"
    idle.close()
