"""Form pieces shared by every area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from rallyhub.errors import RallyhubError

# Everything str.splitlines() breaks at: any of them in an e-mail header starts a new header.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def strip(value):
    """Drop surrounding white space from text input."""
    return value.strip() if isinstance(value, str) else value


def no_control_characters(value):
    """Drop NULs and other control characters (C0, DEL, C1) except line breaks and tabs."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value if ch in "\n\t" or " " <= ch < "\x7f" or ch >= "\xa0")


# Control characters first, so that white space they hid is stripped too.
TEXT_FILTERS = [no_control_characters, strip]


def single_line(form, field) -> None:
    """Refuse line breaks in a one-line field (a title, a name, an e-mail subject)."""
    if isinstance(field.data, str) and not LINE_BREAKS.isdisjoint(field.data):
        raise ValidationError(_l("Please keep this to one line."))


def name_field(label) -> StringField:
    """A person's name: required, one line, at most 120 characters."""
    return StringField(
        label, filters=TEXT_FILTERS, validators=[DataRequired(), single_line, Length(max=120)]
    )


def email_field(label=None) -> EmailField:
    """An e-mail address on one line, checked for syntax only (no network look-up)."""
    return EmailField(
        label or _l("E-mail"),
        filters=TEXT_FILTERS,
        validators=[
            DataRequired(),
            single_line,
            Length(max=254),
            Email(message=_l("Please enter a valid e-mail address."), check_deliverability=False),
        ],
    )


def show_error(form: FlaskForm, error: RallyhubError, default_field: str | None = None) -> None:
    """Put a service's error next to the field it names (or ``default_field``), else above
    the form."""
    name = error.field if error.field in form else default_field
    if name is None:
        form.form_errors.append(error.message)
    else:
        # A validated field's errors may be a tuple.
        form[name].errors = [*form[name].errors, error.message]


def form_status(form: FlaskForm) -> int:
    """400 for a form shown again with errors, else 200."""
    return 400 if any(field.errors for field in form) or form.form_errors else 200


class ActionForm(FlaskForm):
    """A bare form carrying only the CSRF token, for buttons that change state."""
