"""Toolkit forms (HQ curates; everyone filters)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import RadioField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from rallyhub.forms import TEXT_FILTERS, RallyhubForm
from rallyhub.rallies.forms import RALLY_LANGUAGES

# Ids are 32-bit integers on every database; a larger number would be a database error.
MAX_ID = 2**31 - 1

KIND_LABELS = {
    "sign": _l("Sign"),
    "press_release": _l("Press release"),
    "safety_guide": _l("Safety guide"),
    "social_media": _l("Social media"),
    "chant_sheet": _l("Chant sheet"),
    "other": _l("Other"),
}


class ToolkitItemForm(RallyhubForm):
    """An item: a file to upload or a text body, in one language."""

    campaign_id = SelectField(_l("Campaign"), coerce=int, validators=[InputRequired()])
    title = StringField(
        _l("Title"), filters=TEXT_FILTERS, validators=[DataRequired(), Length(max=200)]
    )
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()])
    language = SelectField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in RALLY_LANGUAGES]
    )
    translation_of = SelectField(
        _l("A version of (optional)"), coerce=str, validators=[Optional()], validate_choice=False
    )
    description = TextAreaField(
        _l("Description"), filters=TEXT_FILTERS, validators=[Optional(), Length(max=2000)]
    )
    body = TextAreaField(
        _l("Text (instead of a file)"),
        filters=TEXT_FILTERS,
        validators=[Optional(), Length(max=50_000)],
    )
    file = FileField(_l("File (PDF, PNG, JPEG, DOCX, ODT or plain text, at most 10 MB)"))
    audience = RadioField(
        _l("Who may see it"),
        choices=[
            SelectChoice("public", _l("Everyone")),
            SelectChoice("organizers", _l("Organizers only")),
        ],
        default="public",
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Save item"))

    def validate_translation_of(self, field):
        """The original is picked from the list: an item id, never free text."""
        value = (field.data or "").strip()
        if value and not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID):
            raise ValidationError(_l("Pick an item from the list."))

    def translation_of_id(self) -> int | None:
        """The chosen original's id, once the form has validated."""
        value = (self.translation_of.data or "").strip()
        return int(value) if value else None
