"""Campaign forms (HQ)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
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
    Regexp,
    ValidationError,
)

from rallyhub.campaigns.models import DEFAULT_DAY_HOUR, DEFAULT_EVE_HOUR
from rallyhub.forms import TEXT_FILTERS, RallyhubForm, single_line

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
HASHTAG_PATTERN = re.compile(r"^#\w{2,99}$")


class CampaignForm(RallyhubForm):
    """Create or edit a campaign; the slug is fixed once created."""

    name = StringField(
        _l("Name"), filters=TEXT_FILTERS, validators=[DataRequired(), single_line, Length(max=200)]
    )
    slug = StringField(
        _l("Address name (slug)"),
        filters=TEXT_FILTERS,
        validators=[
            DataRequired(),
            Length(min=2, max=80),
            Regexp(SLUG_PATTERN, message=_l("Use lowercase letters, digits and single hyphens.")),
        ],
    )
    hashtag = StringField(
        _l("Hashtag"),
        filters=TEXT_FILTERS,
        validators=[
            DataRequired(),
            Regexp(HASHTAG_PATTERN, message=_l("Start with # and use letters, digits or _.")),
        ],
    )
    description = TextAreaField(
        _l("Description"), filters=TEXT_FILTERS, validators=[Optional(), Length(max=5000)]
    )
    # Choices: the interface languages, set by the view (they come from the configuration).
    language = SelectField(_l("Language of the name and description"), validators=[Optional()])
    start_date = DateField(_l("Starts on"), validators=[InputRequired()])
    end_date = DateField(_l("Ends on"), validators=[Optional()])
    is_active = BooleanField(_l("Active (organizers can register rallies)"), default=True)
    reminders_on = BooleanField(_l("Remind supporters the day before and on the day"), default=True)
    reminder_eve_hour = IntegerField(
        _l("Day-before reminder at (hour, in each rally's own time zone)"),
        default=DEFAULT_EVE_HOUR,
        validators=[Optional(), NumberRange(0, 23)],
    )
    reminder_day_hour = IntegerField(
        _l("On-the-day reminder at (hour; evening rallies: 3 hours before)"),
        default=DEFAULT_DAY_HOUR,
        validators=[Optional(), NumberRange(0, 23)],
    )
    digests_on = BooleanField(_l("Send organizers a daily digest of new sign-ups"), default=True)
    submit = SubmitField(_l("Save campaign"))

    def validate_end_date(self, field) -> None:
        """The campaign cannot end before it starts."""
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError(_l("The end date must not be before the start date."))


class CampaignTranslationForm(RallyhubForm):
    """The campaign's name and description in another interface language."""

    language = SelectField(_l("Language"), validators=[InputRequired()])
    name = StringField(
        _l("Name"), filters=TEXT_FILTERS, validators=[DataRequired(), single_line, Length(max=200)]
    )
    description = TextAreaField(
        _l("Description"), filters=TEXT_FILTERS, validators=[Optional(), Length(max=5000)]
    )
    submit = SubmitField(_l("Save translation"))
