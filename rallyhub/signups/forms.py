"""Supporters' sign-up forms."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from rallyhub.forms import TEXT_FILTERS, email_field, name_field, single_line

PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-]{6,30}$")


class SignupForm(FlaskForm):
    """Sign up for a rally without an account."""

    name = name_field(_l("Your name (a first name is enough)"))
    email = email_field()
    phone = StringField(
        _l("Phone (optional)"),
        filters=TEXT_FILTERS,
        validators=[
            Optional(),
            Regexp(PHONE_PATTERN, message=_l("Use digits, spaces and an optional leading +.")),
        ],
    )
    consent = BooleanField(_l("The organizers may contact me about this rally"))
    submit = SubmitField(_l("Sign up"))


class ManageSignupForm(FlaskForm):
    """Change one's own sign-up through the manage link."""

    name = SignupForm.name
    phone = SignupForm.phone
    consent = SignupForm.consent
    submit = SubmitField(_l("Save changes"))


def signup_form_for(rally, formdata=None) -> SignupForm:
    """The sign-up form for ``rally``: the phone field only where the organizer asks for it."""
    form = SignupForm() if formdata is None else SignupForm(formdata=formdata)
    if not rally.asks_phone:
        del form.phone
    return form


class WalkInForm(FlaskForm):
    """How many people came without signing up."""

    walk_ins = IntegerField(
        _l("People who came without signing up"),
        validators=[InputRequired(), NumberRange(0, 1_000_000, message=_l("Use 0 or more."))],
    )
    submit = SubmitField(_l("Save walk-ins"))


class TurnoutForm(FlaskForm):
    """The organizer's report of how many people came."""

    people_present = IntegerField(
        _l("People present"),
        validators=[InputRequired(), NumberRange(0, 10_000_000, message=_l("Use 0 or more."))],
    )
    notes = TextAreaField(
        _l("Notes for HQ (how it went, press, incidents)"),
        filters=TEXT_FILTERS,
        validators=[Optional(), Length(max=5000)],
    )
    submit = SubmitField(_l("Save report"))


class MessageForm(FlaskForm):
    """A message to everyone signed up for a rally."""

    subject = StringField(
        _l("Subject"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), single_line, Length(max=150)],
    )
    body = TextAreaField(
        _l("Message"), filters=TEXT_FILTERS, validators=[DataRequired(), Length(max=5000)]
    )
    submit = SubmitField(_l("Send to everyone signed up"))
