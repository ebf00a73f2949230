"""Account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Regexp, ValidationError

from rallyhub.forms import TEXT_FILTERS, RallyhubForm, email_field, name_field

PASSWORD_MIN = 10
PASSWORD_MAX = 256

# The most common passwords of public breach lists that meet the length rule.
COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "123456789012",
        "0123456789",
        "qwertyuiop",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "password123",
        "password1234",
        "passwordpassword",
        "iloveyou123",
        "qwerty12345",
        "qwerty123456",
        "abcdefghij",
        "abc1234567",
        "letmein123",
        "welcome123",
        "administrator",
        "changeme123",
        "football123",
        "princess123",
        "rallyhub123",
    }
)


def strong_password(form, field) -> None:
    """Refuse passwords that are easy to guess."""
    password = field.data or ""
    if len(set(password)) < 5:
        raise ValidationError(_l("Use a password with more different characters."))
    if password.lower() in COMMON_PASSWORDS:
        raise ValidationError(_l("This password is too common. Please choose another."))
    email = getattr(form, "email", None)
    local_part = (email.data or "").split("@")[0].lower() if email is not None else ""
    if len(local_part) >= 4 and local_part in password.lower():
        raise ValidationError(_l("Your password must not contain your e-mail address."))


def password_field(label) -> PasswordField:
    """A new-password field with the length and strength rules."""
    return PasswordField(
        label,
        validators=[
            DataRequired(),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=_l(
                    "Use between %(min)d and %(max)d characters.",
                    min=PASSWORD_MIN,
                    max=PASSWORD_MAX,
                ),
            ),
            strong_password,
        ],
    )


def repeat_password_field(label) -> PasswordField:
    """The new password typed again, which must be the same."""
    return PasswordField(
        label,
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class RegistrationForm(RallyhubForm):
    """Open an organizer account."""

    # Public: the rally pages show it. The template's hint says so.
    name = name_field(_l("Display name"))
    email = email_field()
    password = password_field(_l("Password"))
    confirm = repeat_password_field(_l("Repeat the password"))
    submit = SubmitField(_l("Create account"))


class LoginForm(RallyhubForm):
    """Sign in."""

    email = email_field()
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    submit = SubmitField(_l("Sign in"))


class ChangePasswordForm(RallyhubForm):
    """Change the password of the signed-in account."""

    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=PASSWORD_MAX)]
    )
    password = password_field(_l("New password"))
    confirm = repeat_password_field(_l("Repeat the new password"))
    submit = SubmitField(_l("Change password"))


class ResetRequestForm(RallyhubForm):
    """Ask for a password reset link."""

    email = email_field()
    submit = SubmitField(_l("Send me a link"))


class ResetPasswordForm(RallyhubForm):
    """Choose a new password through a reset link."""

    password = password_field(_l("New password"))
    confirm = repeat_password_field(_l("Repeat the new password"))
    submit = SubmitField(_l("Set password"))


class ConfirmForm(RallyhubForm):
    """A button that confirms an e-mail (a POST, so a link preview changes nothing)."""

    submit = SubmitField(_l("Confirm my e-mail"))


# The roles as people read them (the values stay the stable machine names).
ROLE_LABELS = {"organizer": _l("Organizer"), "hq": _l("HQ")}


class RoleForm(RallyhubForm):
    """HQ sets an account's role."""

    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(value, label) for value, label in ROLE_LABELS.items()],
    )
    submit = SubmitField(_l("Save role"))


class DisplayNameForm(RallyhubForm):
    """Change the name the account's rallies show."""

    name = name_field(_l("Display name"))
    submit = SubmitField(_l("Save display name"))


def code_field(label) -> StringField:
    """A one-time code: six digits from the app, or a recovery code."""
    return StringField(
        label,
        filters=TEXT_FILTERS,
        validators=[DataRequired(message=_l("Please enter a code.")), Length(max=64)],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "off",
            "spellcheck": "false",
        },
    )


class SecondStepForm(RallyhubForm):
    """The second sign-in step: a code after the password."""

    code = code_field(_l("Code from your authenticator app, or a recovery code"))
    submit = SubmitField(_l("Sign in"))


class EnrolForm(RallyhubForm):
    """Confirm the authenticator app with its first code."""

    code = code_field(_l("Code from your authenticator app"))
    submit = SubmitField(_l("Turn on two-factor sign-in"))


class DisableTwoFactorForm(RallyhubForm):
    """Turn two-factor sign-in off (a code proves it is the account's owner)."""

    code = code_field(_l("Code from your app, or a recovery code"))
    submit = SubmitField(_l("Turn off two-factor sign-in"), render_kw={"class": "button-danger"})


class RenewRecoveryCodesForm(RallyhubForm):
    """Replace the recovery codes (the old ones stop working)."""

    code = code_field(_l("Code from your app, or a recovery code"))
    submit = SubmitField(_l("Make new recovery codes"))


class EndSessionForm(RallyhubForm):
    """End one session of one's own (its id is the row's, never the cookie's secret)."""

    session = HiddenField(validators=[DataRequired(), Regexp(r"[0-9a-f]{64}\Z")])
    submit = SubmitField(_l("Log out"))


class TwoFactorRequiredForm(RallyhubForm):
    """HQ requires (or stops requiring) two-factor sign-in of an organizer."""

    required = HiddenField(validators=[AnyOf(["on", "off"])])
