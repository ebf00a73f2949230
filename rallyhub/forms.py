"""Form pieces shared by every area."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

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


class _InterfaceTranslations:
    """WTForms' messages through the interface's catalogs (rallyhub/form_messages.py lists
    them), in the page's language or the one forced for a message."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


class RallyhubForm(FlaskForm):
    """The base of every form: CSRF from Flask-WTF, messages from our catalogs."""

    class Meta:
        def get_translations(self, form):
            return _InterfaceTranslations()


class ActionForm(RallyhubForm):
    """A bare form carrying only the CSRF token, for buttons that change state."""


def confirmed() -> bool:
    """Whether a destructive POST comes from its confirmation page."""
    return request.form.get("confirm") == "yes"


def confirmation_page(
    *,
    question: str,
    explanation: str,
    action: str,
    confirm_label: str,
    back_url: str,
    back_label: str,
    fields: dict[str, str] | None = None,
    quote: str | None = None,
):
    """The page that asks before a destructive action: the same POST again with
    ``confirm=yes`` (and ``fields``), or back. A page rather than a script's dialog: it
    works without JavaScript and reads well in every screen reader."""
    return render_template(
        "confirm.html",
        question=question,
        explanation=explanation,
        action=action,
        confirm_label=confirm_label,
        back_url=back_url,
        back_label=back_label,
        fields=fields or {},
        quote=quote,
        form=ActionForm(),
    )


class CheckboxesField(SelectMultipleField):
    """Several choices as a group of checkboxes (rendered like radio buttons: a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
