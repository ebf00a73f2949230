"""Route guards for roles; object-level checks live in each area's load helper."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask_login import current_user, login_required

from rallyhub.errors import NotAllowed


def hq_required(view: Callable) -> Callable:
    """Let only signed-in HQ accounts with two-factor sign-in on through; others get 403,
    anonymous a sign-in page."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        # An HQ session without a second factor is sent to set one up before any view runs
        # (auth.views); refusing here too keeps every HQ route shut should that ever lapse.
        if not current_user.is_hq or not current_user.two_factor_enabled:
            raise NotAllowed()
        return view(*args, **kwargs)

    return wrapped
