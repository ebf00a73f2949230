"""Rally forms: registration and editing, cancellation, co-organizers, review."""

from __future__ import annotations

import math

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
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
    ValidationError,
)

from rallyhub.forms import TEXT_FILTERS, CheckboxesField, RallyhubForm, email_field, single_line
from rallyhub.params import FIRST_YEAR, LAST_YEAR

# The interface's languages and the campaign's most common others (BCP 47 codes).
RALLY_LANGUAGES = [
    ("en", "English"),
    ("it", "Italiano"),
    ("ru", "Русский"),
    ("es", "Español"),
    ("sv", "Svenska"),
    ("hy", "Հայերեն"),
    ("de", "Deutsch"),
    ("pt-BR", "Português (Brasil)"),
    ("tr", "Türkçe"),
    ("fr", "Français"),
    ("ka", "ქართული"),
    ("uk", "Українська"),
]


def optional_int(value) -> int | None:
    """A select's value as a number; its empty "choose…" option as None."""
    return None if value in ("", None) else int(value)


def finite(form, field) -> None:
    """Refuse NaN and infinities, which float() accepts."""
    if field.data is not None and not math.isfinite(field.data):
        raise ValidationError(_l("Please enter a number."))


def plausible_year(form, field) -> None:
    """Refuse times outside FIRST_YEAR..LAST_YEAR."""
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(
            _l(
                "Please enter a date between the years %(first)d and %(last)d.",
                first=FIRST_YEAR,
                last=LAST_YEAR,
            )
        )


class RallyForm(RallyhubForm):
    """Register or edit a rally; times are in the rally's own local time."""

    campaign_id = SelectField(_l("Campaign"), coerce=optional_int, validators=[InputRequired()])
    title = StringField(
        _l("Title"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), single_line, Length(min=3, max=200)],
    )
    description = TextAreaField(
        _l("What is it about?"), filters=TEXT_FILTERS, validators=[Optional(), Length(max=5000)]
    )
    city = StringField(
        _l("City"), filters=TEXT_FILTERS, validators=[DataRequired(), single_line, Length(max=200)]
    )
    place_id = RadioField(
        _l("Which one?"), coerce=int, validate_choice=False, validators=[Optional()]
    )
    meeting_point = StringField(
        _l("Meeting point"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), single_line, Length(max=500)],
    )
    latitude = FloatField(
        _l("Exact pin: latitude"), validators=[Optional(), finite, NumberRange(-90, 90)]
    )
    longitude = FloatField(
        _l("Exact pin: longitude"), validators=[Optional(), finite, NumberRange(-180, 180)]
    )
    starts_at = DateTimeLocalField(
        _l("Starts (local time)"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(), plausible_year],
    )
    ends_at = DateTimeLocalField(
        _l("Ends (local time)"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(), plausible_year],
    )
    capacity = IntegerField(
        _l("Capacity (leave empty for no limit)"),
        validators=[
            Optional(),
            NumberRange(1, 1_000_000, message=_l("Use a whole number from 1.")),
        ],
    )
    asks_phone = BooleanField(_l("Ask supporters for a phone number (optional for them)"))
    safety_checkins = BooleanField(
        _l("After the rally, ask everyone whether they got home safe (safety check-ins)")
    )
    approval_required = BooleanField(
        _l("Approve each supporter yourself before they get a place and the meeting point")
    )
    language = SelectField(
        _l("Main language (the one you write in here)"),
        choices=[SelectChoice(code, name) for code, name in RALLY_LANGUAGES],
    )
    also_spoken = CheckboxesField(
        _l("Also spoken at the rally"),
        choices=[SelectChoice(code, name) for code, name in RALLY_LANGUAGES],
        validators=[Optional()],
    )
    visibility = RadioField(
        _l("Who sees the meeting point?"),
        choices=[
            SelectChoice("public", _l("Everyone")),
            SelectChoice(
                "protected", _l("Only people who signed up (the public map shows the area)")
            ),
        ],
        default="public",
        validators=[InputRequired()],
    )
    hold_hours = IntegerField(
        _l("Send the meeting point only this many hours before the start (optional)"),
        validators=[Optional(), NumberRange(1, 72, message=_l("Use a whole number from 1 to 72."))],
    )
    submit = SubmitField(_l("Save rally"))

    def validate(self, extra_validators=None) -> bool:
        """Field checks, then the rule that a pin needs both of its coordinates."""
        valid = super().validate(extra_validators)
        latitude, longitude = self.latitude, self.longitude
        if not (latitude.errors or longitude.errors) and (
            (latitude.data is None) != (longitude.data is None)
        ):
            missing = latitude if latitude.data is None else longitude
            missing.errors = [*missing.errors, _l("Give both latitude and longitude, or neither.")]
            valid = False
        return valid

    def validate_ends_at(self, field) -> None:
        """The rally ends after it starts."""
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The end must be after the start."))


class CancelForm(RallyhubForm):
    """Cancel a rally with a message for the people who signed up."""

    note = TextAreaField(
        _l("Message to show on the rally page"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), Length(max=2000)],
    )
    submit = SubmitField(_l("Cancel the rally"), render_kw={"class": "button-danger"})


class TakeDownForm(RallyhubForm):
    """Take a rally down in an emergency (the confirmation page says what follows)."""

    submit = SubmitField(_l("Take the rally down now"), render_kw={"class": "button-danger"})


class CoorganizerForm(RallyhubForm):
    """Invite a co-organizer by e-mail."""

    email = email_field(_l("Co-organizer's e-mail"))
    submit = SubmitField(_l("Invite co-organizer"))


class RejectForm(RallyhubForm):
    """HQ rejects a rally with a note the organizer sees."""

    note = TextAreaField(
        _l("Why (the organizer sees this)"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), Length(max=2000)],
    )
    submit = SubmitField(_l("Reject"))


class RallyTranslationForm(RallyhubForm):
    """The rally's words in another interface language."""

    language = SelectField(_l("Language"), validators=[InputRequired()])
    title = StringField(
        _l("Title"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), single_line, Length(min=3, max=200)],
    )
    description = TextAreaField(
        _l("What is it about?"), filters=TEXT_FILTERS, validators=[Optional(), Length(max=5000)]
    )
    meeting_point = StringField(
        _l("Meeting point"),
        filters=TEXT_FILTERS,
        validators=[Optional(), single_line, Length(max=500)],
    )
    submit = SubmitField(_l("Save translation"))


class SafetyContactForm(RallyhubForm):
    """HQ's legal-aid and emergency contacts for one country, in one language (the choices
    are set by the view: every country, the interface's languages)."""

    country_code = SelectField(_l("Country"), validators=[InputRequired()])
    language = SelectField(_l("Language of this text"), validators=[InputRequired()])
    text = TextAreaField(
        _l("Legal-aid and emergency contacts"),
        filters=TEXT_FILTERS,
        validators=[DataRequired(), Length(max=5000)],
    )
    submit = SubmitField(_l("Save contacts"))
