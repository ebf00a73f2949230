"""HQ forms: taking down every upcoming rally of a country; a country's risk settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from wtforms import (
    BooleanField,
    FloatField,
    IntegerField,
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

from rallyhub.forms import TEXT_FILTERS, RallyhubForm, single_line
from rallyhub.i18n import country_name, name_sort_key
from rallyhub.places.models import NO_MAP


class TakeDownCountryForm(RallyhubForm):
    """Choose a country whose upcoming rallies all go down at once (a confirmation follows)."""

    country_code = SelectField(_l("Country"), validators=[DataRequired()])
    submit = SubmitField(
        _l("Take down every upcoming rally there"), render_kw={"class": "button-danger"}
    )

    def offer(self, countries: list[tuple[str, int]]) -> None:
        """Offer the countries that have upcoming rallies, by name, each with how many."""
        named = sorted(
            ((code, country_name(code), count) for code, count in countries),
            key=lambda row: name_sort_key(row[1]),
        )
        # For the confirmation page and the message after it.
        self.names = {code: name for code, name, _count in named}
        self.counts = dict(countries)
        self.country_code.choices = [
            SelectChoice(
                code,
                ngettext(
                    "%(name)s (%(num)d rally)", "%(name)s (%(num)d rallies)", count, name=name
                ),
            )
            for code, name, count in named
        ]


class CountryRiskForm(RallyhubForm):
    """Mark a country high-risk (or no longer), with the settings its rallies follow."""

    country_code = SelectField(_l("Country"), validators=[InputRequired()])
    high_risk = BooleanField(_l("High-risk: rallying here can get people arrested"), default=True)
    note = TextAreaField(
        _l("Why (for HQ)"), filters=TEXT_FILTERS, validators=[Optional(), Length(max=2000)]
    )
    cell_km = FloatField(
        _l("Public pin: a grid cell this many km wide"),
        default=5.0,
        validators=[InputRequired(), NumberRange(1, 50, message=_l("From 1 to 50 km."))],
    )
    purge_hours = IntegerField(
        _l("Delete supporters' personal data this many hours after each rally"),
        default=24,
        validators=[InputRequired(), NumberRange(1, 720, message=_l("From 1 to 720 hours."))],
    )
    hold_hours = IntegerField(
        _l("Send the meeting point only this many hours before the start (optional)"),
        validators=[Optional(), NumberRange(1, 72, message=_l("Use a whole number from 1 to 72."))],
    )
    two_factor = BooleanField(
        _l("Organizers of rallies here must sign in with a second factor"), default=True
    )
    tiles = StringField(
        _l("Map tiles"),
        filters=TEXT_FILTERS,
        validators=[Optional(), single_line, Length(max=500)],
    )
    submit = SubmitField(_l("Save the country's settings"))

    def validate_tiles(self, field) -> None:
        """Empty, "none", or an https tile URL with {z}, {x} and {y}."""
        value = field.data or ""
        if value in ("", NO_MAP):
            return
        parts = urlsplit(value)
        if (
            parts.scheme != "https"
            or not parts.netloc
            or not all(part in value for part in ("{z}", "{x}", "{y}"))
        ):
            raise ValidationError(
                _l('Leave it empty, write "none", or give an https address with {z}, {x} and {y}.')
            )
