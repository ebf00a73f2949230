"""Form pieces shared by every area."""

from __future__ import annotations

from flask_wtf import FlaskForm


def strip(value):
    """Drop surrounding white space from text input."""
    return value.strip() if isinstance(value, str) else value


def no_control_characters(value):
    """Drop NULs and other control characters except line breaks and tabs."""
    if not isinstance(value, str):
        return value
    return "".join(ch for ch in value if ch >= " " or ch in "\n\t").replace("\r\n", "\n")


TEXT_FILTERS = [strip, no_control_characters]


class ActionForm(FlaskForm):
    """A bare form carrying only the CSRF token, for buttons that change state."""
