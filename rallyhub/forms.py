"""Form pieces shared by every area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

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


class ActionForm(FlaskForm):
    """A bare form carrying only the CSRF token, for buttons that change state."""
