"""Password hashing with argon2id, at OWASP's parameters unless configured higher."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

# Checked against for unknown e-mails, so a login takes as long whether or not one exists.
_DUMMY_PASSWORD = "rallyhub-timing-equalizer"  # noqa: S105 - not a credential


def hasher() -> PasswordHasher:
    """Return the app's argon2id hasher, built once from its configuration."""
    cached = current_app.extensions.get("rallyhub_hasher")
    if cached is None:
        config = current_app.config
        cached = PasswordHasher(
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST_KIB"],
            parallelism=config["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
        current_app.extensions["rallyhub_hasher"] = cached
    return cached


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password against a stored hash; with no hash, spend the same time and fail."""
    ph = hasher()
    if stored_hash is None:
        stored_hash = current_app.extensions.get("rallyhub_dummy_hash")
        if stored_hash is None:
            stored_hash = ph.hash(_DUMMY_PASSWORD)
            current_app.extensions["rallyhub_dummy_hash"] = stored_hash
        password = password + "\x00never"
    try:
        return ph.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a stored hash was made with weaker parameters than configured now."""
    try:
        return hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
