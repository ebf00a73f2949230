"""Supporters' sign-up forms."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
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

from rallyhub.forms import TEXT_FILTERS, RallyhubForm, email_field, name_field, single_line
from rallyhub.rallies.services import requires_approval
from rallyhub.security import has_session_cookie

PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-]{6,30}$")


class SignupForm(RallyhubForm):
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


class ManageSignupForm(RallyhubForm):
    """Change one's own sign-up through the manage link."""

    name = SignupForm.name
    phone = SignupForm.phone
    consent = SignupForm.consent
    submit = SubmitField(_l("Save changes"))


def signup_form_for(rally, formdata=None, *, csrf: bool | None = None) -> SignupForm:
    """The sign-up form for ``rally``: the phone field only where the organizer asks for it;
    "Ask to join" where the organizers approve each attendee.

    Its CSRF token is bound to the visitor's session only when they have one (``csrf``
    defaults to that): creating a token would start a session, and a rally page with a
    session cookie is one no shared cache may keep. Without a token, the view requires the
    post to come from our own page instead.
    """
    meta = {"csrf": has_session_cookie() if csrf is None else csrf}
    form = SignupForm(meta=meta) if formdata is None else SignupForm(formdata=formdata, meta=meta)
    if not rally.asks_phone:
        del form.phone
    if requires_approval(rally):
        form.submit.label.text = _l("Ask to join")
    return form


class WalkInForm(RallyhubForm):
    """How many people came without signing up."""

    walk_ins = IntegerField(
        _l("People who came without signing up"),
        validators=[InputRequired(), NumberRange(0, 1_000_000, message=_l("Use 0 or more."))],
    )
    submit = SubmitField(_l("Save walk-ins"))


class TurnoutForm(RallyhubForm):
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


class MessageForm(RallyhubForm):
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


class SafetyForm(RallyhubForm):
    """The buttons of a safety check-in page.

    No CSRF token: the link's secret in the address already proves the request comes from the
    person's own page (a forged page cannot know it), and someone in danger must never meet
    "your form expired" or be stopped by cookies that are off.
    """

    class Meta:
        csrf = False


class HelpForm(SafetyForm):
    """“I need help”, with what the person chooses to tell HQ (all of it optional)."""

    message = TextAreaField(
        _l("What is happening? (optional)"),
        filters=TEXT_FILTERS,
        validators=[Optional(), Length(max=2000)],
    )
    contact = StringField(
        _l("How can HQ reach you? (optional)"),
        filters=TEXT_FILTERS,
        validators=[Optional(), single_line, Length(max=200)],
    )
    # A signed reference to the incident this person raised, carried by their help page only.
    ref = HiddenField(validators=[Optional(), Length(max=512)])
    submit = SubmitField(_l("Send to HQ"), render_kw={"class": "button-danger"})
