"""``flask rallyhub …`` commands; each one calls a service and commits once."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup

from rallyhub.extensions import db

cli = AppGroup("rallyhub", help="rallyhub administration.")


@cli.command("create-hq")
@click.argument("email")
@click.option("--name", default="HQ", show_default=True, help="Display name of the account.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_hq(email: str, name: str, password_stdin: bool) -> None:
    """Create an HQ account (or promote an existing one)."""
    from rallyhub.auth.forms import PASSWORD_MAX, PASSWORD_MIN
    from rallyhub.auth.services import create_hq_account

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise click.UsageError(
            f"The password must have between {PASSWORD_MIN} and {PASSWORD_MAX} characters."
        )
    user, created = create_hq_account(email, name, password)
    db.session.commit()
    click.echo(f"{'Created' if created else 'Promoted'} HQ account {user.email}.")


@cli.command("seed-demo")
def seed_demo() -> None:
    """Load the demo campaigns, organizers, rallies and sign-ups (safe to run again)."""
    from rallyhub.demo import seed

    counts = seed(progress=click.echo)
    db.session.commit()
    click.echo(
        "Demo data ready: " + ", ".join(f"{number} {what}" for what, number in counts.items()) + "."
    )


@cli.command("purge-personal-data")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Days after a rally (default: PERSONAL_DATA_RETENTION_DAYS).",
)
def purge_personal_data(days: int | None) -> None:
    """Remove sign-up names, e-mails and phones some days after each rally; counts stay."""
    from flask import current_app

    from rallyhub.signups.services import purge_personal_data as purge

    if days is None:
        days = int(current_app.config["PERSONAL_DATA_RETENTION_DAYS"])

    def report(done: int, total: int, purged: int) -> None:
        click.echo(f"  {done}/{total} rallies, {purged} sign-ups purged")

    purged = purge(days, progress=report)
    db.session.commit()
    click.echo(f"Purged the personal data of {purged} sign-ups to rallies over {days} days ago.")


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for rallyhub's jobs (mail, the sweep); run two or more in production."""
    from flask import current_app
    from rq import SimpleWorker

    from rallyhub.delivery import redis_connection

    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError("The worker needs REDIS_URL.")
    # SimpleWorker runs each job in this process, inside the application's context; a forking
    # worker would share the database connections of its parent.
    queue = current_app.config["MAIL_QUEUE"]
    SimpleWorker([queue], connection=redis_connection(current_app)).work(burst=burst)


@cli.command("scheduler")
def scheduler() -> None:
    """Put the sweep (reminders, retries, forgetting delivered mail) on the queue every minute."""
    from flask import current_app
    from rq.cron import CronScheduler

    from rallyhub.delivery import redis_connection
    from rallyhub.tasks import SWEEP_INTERVAL_S, sweep

    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError("The scheduler needs REDIS_URL.")
    cron = CronScheduler(connection=redis_connection(current_app), name="rallyhub")
    cron.register(
        sweep,
        queue_name=current_app.config["MAIL_QUEUE"],
        interval=SWEEP_INTERVAL_S,
        result_ttl=0,
    )
    cron.start()


@cli.command("sweep")
def sweep_once() -> None:
    """Run the sweep once, here (without Redis: from cron every minute)."""
    from rallyhub.tasks import sweep

    counts = sweep()
    click.echo(
        f"{counts['reminders']} reminders written, {counts['requeued']} messages sent or "
        f"queued again, {counts['blanked']} delivered ones forgotten."
    )


@cli.command("send-mail")
@click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True)
def send_mail(limit: int) -> None:
    """Deliver the queued e-mails that are due (run it every few minutes from cron)."""
    from rallyhub.delivery import deliver_due

    sent, tried = deliver_due(limit)
    click.echo(f"Delivered {sent} of {tried} due messages.")
    if sent < tried:
        raise SystemExit(1)


@cli.command("clean-uploads")
@click.option(
    "--older-than",
    type=click.IntRange(min=60),
    default=3600,
    show_default=True,
    help="Seconds after which a half-stored upload counts as abandoned.",
)
def clean_uploads(older_than: int) -> None:
    """Finish or remove toolkit uploads that a crashed request left half-stored."""
    from rallyhub.toolkits.services import clean_uploads as clean

    count = clean(older_than)
    click.echo(f"Cleaned {count} half-stored uploads.")


@cli.command("import-places")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_places(source: Path) -> None:
    """Load a fuller GeoNames dump (e.g. cities500.txt) as the gazetteer's places."""
    from flask import current_app

    from rallyhub.places.gazetteer import import_geonames

    target = Path(current_app.config["PLACES_FILE"])

    def report(lines: int, kept: int) -> None:
        click.echo(f"  {lines} lines read, {kept} places kept")

    try:
        count = import_geonames(source, target, progress=report)
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{source.name} is not a GeoNames dump: {error}") from None
    click.echo(f"Imported {count} places into {target}. Restart the app to use them.")
