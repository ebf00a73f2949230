"""Signed, expiring tokens for e-mail links (confirmation, password reset)."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"rallyhub.{purpose}")


def fingerprint(value: str) -> str:
    """A short digest that changes when ``value`` changes (makes tokens single-use)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def make_token(purpose: str, payload: dict[str, Any]) -> str:
    """Sign ``payload`` for one purpose."""
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, max_age: int | None = None) -> dict[str, Any] | None:
    """Return the payload of a valid token for ``purpose`` younger than ``max_age`` seconds
    (default TOKEN_MAX_AGE_S), else None."""
    if not token or len(token) > 512:
        return None
    try:
        payload = _serializer(purpose).loads(
            token, max_age=max_age or current_app.config["TOKEN_MAX_AGE_S"]
        )
    except BadSignature:
        return None
    return payload if isinstance(payload, dict) else None
