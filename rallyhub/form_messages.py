"""WTForms' own messages, listed so that the extractor puts them in our catalogs: forms
translate them with the interface's catalogs (``rallyhub.forms.RallyhubForm``), so every
language has them, Armenian included (WTForms ships no catalog for it)."""

from __future__ import annotations

from flask_babel import gettext, ngettext


def _listed_for_the_extractor() -> None:  # pragma: no cover - read by `make messages` only
    gettext("This field is required.")
    gettext("Not a valid choice.")
    gettext("Invalid Choice: could not coerce.")
    gettext("Not a valid integer value.")
    gettext("Not a valid float value.")
    gettext("Not a valid decimal value.")
    gettext("Not a valid date value.")
    gettext("Not a valid datetime value.")
    gettext("Not a valid time value.")
    gettext("Invalid input.")
    gettext("Invalid email address.")
    gettext("Number must be at least %(min)s.")
    gettext("Number must be at most %(max)s.")
    gettext("Number must be between %(min)s and %(max)s.")
    gettext("Field must be between %(min)d and %(max)d characters long.")
    ngettext(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
        1,
    )
    ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
        1,
    )
    ngettext(
        "Field must be exactly %(max)d character long.",
        "Field must be exactly %(max)d characters long.",
        1,
    )
    ngettext(
        "'%(value)s' is not a valid choice for this field.",
        "'%(value)s' are not valid choices for this field.",
        1,
    )
    gettext("Invalid choice(s): one or more data inputs could not be coerced.")
    # Flask-WTF's CSRF and file messages.
    gettext("The CSRF token is missing.")
    gettext("The CSRF token is invalid.")
    gettext("The CSRF token has expired.")
    gettext("The CSRF tokens do not match.")
