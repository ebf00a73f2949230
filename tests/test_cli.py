"""``flask rallyhub`` commands."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rallyhub.auth.models import Role, User
from rallyhub.auth.passwords import verify_password
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.signups.models import Signup


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_hq_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(
        args=["rallyhub", "create-hq", "Boss@Example.org", "--password-stdin"],
        input="a-long-enough-secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created the HQ account boss@example.org." in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "boss@example.org"))
        assert user.role is Role.HQ and user.is_active
        assert verify_password(user.password_hash, "a-long-enough-secret")


def test_create_hq_prompts_twice_and_promotes_an_existing_account(app, runner, users):
    users(email="org@example.org")
    result = runner.invoke(
        args=["rallyhub", "create-hq", "org@example.org"],
        input="another-long-secret\nanother-long-secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "Made org@example.org an HQ account." in result.output
    with app.app_context():
        assert (
            db.session.scalar(select(User.role).where(User.email == "org@example.org")) is Role.HQ
        )


def test_create_hq_refuses_bad_input(app, runner):
    bad_email = runner.invoke(
        args=["rallyhub", "create-hq", "not-an-email", "--password-stdin"],
        input="a-long-enough-secret\n",
    )
    short = runner.invoke(
        args=["rallyhub", "create-hq", "a@example.org", "--password-stdin"], input="short\n"
    )
    assert bad_email.exit_code == short.exit_code == 2
    assert "10 and 256" in short.output
    with app.app_context():
        assert _count(User) == 0


def test_seed_demo_is_idempotent_and_covers_the_seed_countries(app, runner):
    first = runner.invoke(args=["rallyhub", "seed-demo"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        counts = (_count(Campaign), _count(Rally), _count(Signup), _count(User))
        countries = set(db.session.scalars(select(Rally.country_code)))
        hashtags = set(db.session.scalars(select(Campaign.hashtag)))
        statuses = set(db.session.scalars(select(Rally.status)))
        visibilities = set(db.session.scalars(select(Rally.visibility)))
    assert {"SE", "MX", "AM", "DE", "BR", "IT", "TR", "GB"} <= countries
    assert len(countries) > 8
    assert hashtags == {"#GiustiziaPerLaCecenia", "#GiustiziaPerZelim"}
    assert {RallyStatus.APPROVED, RallyStatus.PENDING} <= statuses
    assert visibilities == {Visibility.PUBLIC, Visibility.PROTECTED}
    assert counts[2] > 0

    second = runner.invoke(args=["rallyhub", "seed-demo"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        assert (_count(Campaign), _count(Rally), _count(Signup), _count(User)) == counts


def test_seed_demo_refuses_production(make_app):
    app = make_app()
    app.config["RALLYHUB_ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["rallyhub", "seed-demo"])
    assert result.exit_code != 0
    with app.app_context():
        assert _count(User) == 0


def test_seed_demo_adds_a_starter_toolkit_in_english_and_italian(app, runner):
    from pathlib import Path

    from pypdf import PdfReader

    from rallyhub.toolkits.models import ToolkitItem, ToolkitKind

    assert runner.invoke(args=["rallyhub", "seed-demo"]).exit_code == 0
    assert runner.invoke(args=["rallyhub", "seed-demo"]).exit_code == 0
    with app.app_context():
        items = db.session.scalars(select(ToolkitItem)).all()
        upload_dir = Path(app.config["UPLOAD_DIR"])
    found = {(item.kind, item.language) for item in items}
    for kind in (ToolkitKind.SIGN, ToolkitKind.PRESS_RELEASE, ToolkitKind.SAFETY_GUIDE):
        assert {(kind, "en"), (kind, "it")} <= found
    assert len(items) == 6, "idempotent"
    sign = next(item for item in items if item.kind is ToolkitKind.SIGN and item.language == "en")
    text = PdfReader(upload_dir / sign.stored_name).pages[0].extract_text()
    assert "JUSTICE" in text
    guide = next(i for i in items if i.kind is ToolkitKind.SAFETY_GUIDE and i.language == "en")
    assert "lawyer" in guide.body and "detained" in guide.body
    groups = {item.group_key for item in items}
    assert len(groups) == 3, "each English item and its Italian version are one group"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"LANG": "it_IT.UTF-8"}, "Consegnati 0 messaggi su 0 da inviare."),
        ({"LANGUAGE": "xx:ru", "LANG": "C"}, None),
        ({"LANG": "C.UTF-8"}, "Delivered 0 of 0 due messages."),
    ],
)
def test_commands_answer_in_the_operators_language(runner, monkeypatch, variables, expected):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(args=["rallyhub", "send-mail"])
    assert result.exit_code == 0, result.output
    if expected is None:  # Russian: not the English line
        assert "Delivered" not in result.output and result.output.strip()
    else:
        assert result.output.strip() == expected
