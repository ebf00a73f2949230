"""Mail through a real SMTP server (aiosmtpd, STARTTLS with a certificate the test makes) and
the real job queue (RQ on the local Redis), on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from rallyhub import tasks
from rallyhub.delivery import deliver_due, enqueue
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, OutboxState
from tests.conftest import post_form
from tests.production.conftest import REDIS_URL

SUPPORTER = "ana@example.org"


@pytest.fixture
def smtp_app(make_app, mailbox, certificates, monkeypatch):
    """An app that sends through the test's SMTP server, trusting its certificate."""
    # OpenSSL reads the trust store's location when a context is made: the app's verifying
    # STARTTLS context then trusts the test's CA, as a deployment trusts a public one.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))

    def build(**settings):
        return make_app(SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}", **settings)

    return build


def _sign_up(app, rally_id, email=SUPPORTER):
    return post_form(
        app.test_client(),
        f"/rallies/{rally_id}/signup",
        {"name": "Ana", "email": email},
        page=f"/rallies/{rally_id}",
    )


def _states(app) -> list[tuple[str, OutboxState, int]]:
    with app.app_context():
        return list(
            db.session.execute(
                select(OutboxMessage.kind, OutboxMessage.state, OutboxMessage.attempts).order_by(
                    OutboxMessage.id
                )
            ).all()
        )


def test_a_confirmation_goes_out_over_starttls_with_its_calendar(smtp_app, mailbox, rallies):
    app = smtp_app()
    rally_id = rallies(title="Rally in Lisbon", timezone="Europe/Lisbon")
    before = len(mailbox.all())
    assert _sign_up(app, rally_id).status_code == 302
    delivery = mailbox.wait_for(SUPPORTER, "/s/", since=before)
    assert delivery.over_tls
    assert delivery.message["Subject"] == "Your sign-up: Rally in Lisbon"
    (calendar,) = list(delivery.message.iter_attachments())
    assert calendar.get_content_type() == "text/calendar"
    assert "SUMMARY:Rally in Lisbon" in calendar.get_content()
    assert _states(app) == [("confirmation", OutboxState.SENT, 1)]


def test_an_address_refused_for_good_is_not_tried_again(smtp_app, mailbox, rallies):
    app = smtp_app()
    mailbox.refuse.add("nobody@example.org")
    try:
        rally_id = rallies()
        assert _sign_up(app, rally_id, email="nobody@example.org").status_code == 302
        assert _states(app) == [("confirmation", OutboxState.FAILED, 1)]
        with app.app_context():
            db.session.execute(
                OutboxMessage.__table__.update().values(next_attempt_dt=db.func.now())
            )
            db.session.commit()
            assert deliver_due() == (0, 0), "a refused message is never taken again"
    finally:
        mailbox.refuse.discard("nobody@example.org")


@pytest.fixture
def queue_name():
    """A queue of this test's own on the local Redis, emptied afterwards."""
    name = f"rhtest-{secrets.token_hex(4)}"
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis does not answer at {REDIS_URL}: {error}")
    yield name
    Queue(name, connection=connection).delete(delete_jobs=True)
    connection.close()


def _work(app, queue_name) -> None:
    """Run an RQ worker until the queue is empty, in this process and the app's context."""
    connection = redis.Redis.from_url(REDIS_URL)
    with app.app_context():
        SimpleWorker([queue_name], connection=connection).work(burst=True)
    connection.close()


def test_the_rq_worker_sends_each_message_once(smtp_app, mailbox, rallies, queue_name):
    app = smtp_app(MAIL_DELIVERY="queue", REDIS_URL=REDIS_URL, MAIL_QUEUE=queue_name)
    rally_id = rallies()
    before = len(mailbox.all())
    assert _sign_up(app, rally_id).status_code == 302
    queue = Queue(queue_name, connection=redis.Redis.from_url(REDIS_URL))
    assert queue.count == 1, "the request queued the message and sent nothing itself"
    assert mailbox.all()[before:] == []
    # Written as handed on in the sign-up's own transaction: the sweep leaves it to the job.
    with app.app_context():
        assert tasks.sweep()["requeued"] == 0
    assert queue.count == 1

    _work(app, queue_name)
    mailbox.wait_for(SUPPORTER, "/s/", since=before)
    # The same message queued again (a retry, a sweep, a second worker): nothing more is sent.
    with app.app_context():
        (message_id,) = db.session.scalars(select(OutboxMessage.id)).all()
        db.session.rollback()  # SQLite: let go of the lock before the queue's bookkeeping
        assert enqueue(app, [message_id, message_id])
    _work(app, queue_name)
    assert [d.recipients for d in mailbox.all()[before:]] == [(SUPPORTER,)]
    assert _states(app) == [("confirmation", OutboxState.SENT, 1)]


def test_a_message_committed_while_redis_was_down_is_sent_by_the_sweep(
    smtp_app, mailbox, rallies, queue_name
):
    # Nothing answers on this Redis port: the commit keeps the message, the request succeeds.
    app = smtp_app(MAIL_DELIVERY="queue", REDIS_URL="redis://127.0.0.1:1/0", MAIL_QUEUE=queue_name)
    rally_id = rallies()
    before = len(mailbox.all())
    assert _sign_up(app, rally_id).status_code == 302
    assert _states(app) == [("confirmation", OutboxState.QUEUED, 0)]

    app.config["REDIS_URL"] = REDIS_URL  # Redis is back; the sweep runs every minute
    with app.app_context():
        assert tasks.sweep()["requeued"] == 1
    _work(app, queue_name)
    mailbox.wait_for(SUPPORTER, "/s/", since=before)
    assert _states(app) == [("confirmation", OutboxState.SENT, 1)]
