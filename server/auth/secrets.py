"""Passwords (Argon2id) and bearer tokens (random, stored as SHA-256)."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PERSON_TOKEN_PREFIX = "hp_"
DEVICE_TOKEN_PREFIX = "hd_"

_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, which keeps the timing the
    same. Made once, not at import: a hash is 0.1-0.2 s, which every CLI command paid at
    start; the server makes it as it starts (``create_app``'s lifespan), so that no first
    unknown login takes longer than a known one."""
    return _hasher.hash("not a real password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash suffices (no KDF needed).
    return hashlib.sha256(token.encode()).hexdigest()
