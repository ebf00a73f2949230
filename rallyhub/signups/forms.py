"""Supporters' sign-up forms."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from rallyhub.forms import TEXT_FILTERS

PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-]{6,30}$")


class SignupForm(FlaskForm):
    """Sign up for a rally without an account."""

    name = StringField(
        _l("Your name (a first name is enough)"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), Length(max=120)],
    )
    email = EmailField(
        _l("E-mail"),
        filters=TEXT_FILTERS,
        validators=[
            DataRequired(),
            Length(max=254),
            Email(message=_l("Please enter a valid e-mail address."), check_deliverability=False),
        ],
    )
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
