"""Route guards for roles; object-level checks live in each area's load helper."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask_login import current_user, login_required

from rallyhub.errors import NotAllowed


def hq_required(view: Callable) -> Callable:
    """Let only signed-in HQ accounts through; others get 403, anonymous a sign-in page."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_hq:
            raise NotAllowed()
        return view(*args, **kwargs)

    return wrapped
