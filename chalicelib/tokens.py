"""Scoped API tokens: what a request may do (its Grant), and the admin's create, list and revoke.

A scoped token reads `fnq_<id>_<secret>`: the id (16 hex digits) finds its record with one read,
the secret (64 hex digits, 256 random bits) is checked against the SHA-256 stored there, in
constant time. The secret is shown once, when the token is created, and stored nowhere; a
high-entropy secret needs no slow hash (nothing to guess from its SHA-256).

The stack's own token (FNQ_API_TOKEN) is admin on every app. Without it the API is open and
every request is admin, so tokens are refused there: they would restrict nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.errors import ConflictError, InvalidInputError, UnauthorizedError, token_not_found
from chalicelib.models import EVERY_APP, Right, Token
from chalicelib.ports import TokenStore
from chalicelib.rules import validate_app_name

SECRET_PREFIX = "fnq_"
# Compiled by re at the first token checked (and cached there): an open API never compiles them.
_SCOPED = r"^fnq_([0-9a-f]{16})_([0-9a-f]{64})$"
_TOKEN_ID = r"^[0-9a-f]{16}$"
ID_BYTES = 8
SECRET_BYTES = 32
MAX_TOKEN_APPS = 100
MAX_TOKEN_NAME = 64
TOKEN_FIELDS = frozenset({"name", "apps", "rights", "expires_at"})
UNAUTHORIZED = "Unauthorized: set FN_TOKEN to the API's token"


@dataclass(frozen=True)
class Grant:
    """What one request may do: `rights` on `apps` (None: on every app). `admin` holds every right."""

    apps: frozenset[str] | None
    rights: frozenset[Right]

    @classmethod
    def of(cls, token: Token) -> Grant:
        apps = None if EVERY_APP in token.apps else frozenset(token.apps)
        return cls(apps, frozenset(token.rights))

    def holds(self, right: Right) -> bool:
        return Right.ADMIN in self.rights or right in self.rights

    def allows(self, right: Right, app: str) -> bool:
        return self.holds(right) and (self.apps is None or app in self.apps)

    def anywhere(self, right: Right) -> bool:
        """The right on at least one app."""
        return self.holds(right) and (self.apps is None or bool(self.apps))

    def everywhere(self, right: Right) -> bool:
        return self.holds(right) and self.apps is None

    def apps_with(self, right: Right) -> frozenset[str] | None:
        """The apps this grant holds `right` on; None means every app."""
        return self.apps if self.holds(right) else frozenset()


ADMIN = Grant(None, frozenset({Right.ADMIN}))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _same(sent: str, expected: str) -> bool:
    # Digests of both: compare_digest then takes the same time whatever the lengths, and any
    # header text compares (it refuses str with non-ASCII characters).
    def digest(value: str) -> bytes:
        return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()

    return hmac.compare_digest(digest(sent), digest(expected))


def token_body(body: dict[str, Any]) -> dict[str, Any]:
    token = body.get("token")
    if not isinstance(token, dict):
        raise InvalidInputError("Missing new token")
    return token


def new_token(data: dict[str, Any], token_id: str, secret_hash: str, now: datetime) -> Token:
    """A token from a create request, validated: apps and rights required, expiry in the future."""
    unknown = sorted(set(data) - TOKEN_FIELDS)
    if unknown:
        raise InvalidInputError(f"Invalid token field: {unknown[0][:40]} (name, apps, rights, expires_at)")
    return Token(
        id=token_id,
        name=_name(data.get("name")),
        apps=_apps(data.get("apps")),
        rights=_rights(data.get("rights")),
        secret_hash=secret_hash,
        created_at=now,
        expires_at=_expiry(data.get("expires_at"), now),
    )


def _name(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TOKEN_NAME or not value.isprintable():
        raise InvalidInputError(f"Invalid token name: up to {MAX_TOKEN_NAME} printable characters")
    return value


def _apps(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInputError('Missing token apps: a list of app names, or ["*"] for every app')
    if len(value) > MAX_TOKEN_APPS:
        raise InvalidInputError(f'A token names at most {MAX_TOKEN_APPS} apps (or every app: ["*"])')
    if EVERY_APP in value:
        if len(set(value)) > 1:
            raise InvalidInputError('Token apps: "*" (every app) stands alone')
        return (EVERY_APP,)
    return tuple(dict.fromkeys(validate_app_name(name) for name in value))


def _rights(value: Any) -> tuple[Right, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInputError("Missing token rights: a list of invoke, read, deploy, admin")
    rights = []
    for item in value:
        try:
            rights.append(Right(item))
        except ValueError as exc:
            shown = str(item)[:40]
            raise InvalidInputError(f"Invalid token right: {shown} (invoke, read, deploy or admin)") from exc
    return tuple(dict.fromkeys(rights))


def _expiry(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        expires = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        expires = None
    if expires is None or expires.tzinfo is None:
        raise InvalidInputError("Invalid token expires_at: expected an RFC 3339 time with its offset")
    expires = expires.replace(microsecond=0)  # stored in whole seconds (the table's TTL)
    if expires <= now:
        raise InvalidInputError("Invalid token expires_at: the time has passed")
    return expires


class Tokens:
    def __init__(
        self,
        store: TokenStore,
        clock: Callable[[], datetime],
        admin_token: str,
        random_hex: Callable[[int], str] = secrets.token_hex,
    ) -> None:
        self._store = store
        self._clock = clock
        self._admin = admin_token
        self._random_hex = random_hex

    @property
    def required(self) -> bool:
        """Whether the API requires a token (FNQ_API_TOKEN is set)."""
        return bool(self._admin)

    def authenticate(self, authorization: str | None) -> Grant:
        """The grant of the request's `Authorization: Bearer …`; UnauthorizedError when it has none.

        Never puts any of the header into an error: the message is the same for every refusal but
        an expired token (which only its holder can present).
        """
        if not self._admin:
            return ADMIN
        scheme, _, sent = (authorization or "").partition(" ")
        sent = sent.strip()
        if scheme.lower() != "bearer" or not sent:
            raise UnauthorizedError(UNAUTHORIZED)
        if _same(sent, self._admin):
            return ADMIN
        match = re.match(_SCOPED, sent)
        if match is None:
            raise UnauthorizedError(UNAUTHORIZED)
        token = self._store.find_token(match[1])
        if token is None or not _same(hash_secret(match[2]), token.secret_hash):
            raise UnauthorizedError(UNAUTHORIZED)
        if token.expires_at is not None and token.expires_at <= self._clock():
            raise UnauthorizedError("Unauthorized: the token has expired")
        return Grant.of(token)

    def create_token(self, data: dict[str, Any]) -> tuple[Token, str]:
        """The new token and its secret (`fnq_<id>_<secret>`), which nothing keeps but the caller."""
        if not self._admin:
            raise ConflictError("Tokens need an API that requires a token: set FNQ_API_TOKEN")
        token_id, secret = self._random_hex(ID_BYTES), self._random_hex(SECRET_BYTES)
        token = new_token(data, token_id, hash_secret(secret), self._clock())
        self._store.create_token(token)
        return token, f"{SECRET_PREFIX}{token_id}_{secret}"

    def list_tokens(self, after_id: str | None, limit: int) -> list[Token]:
        return self._store.list_tokens(after_id, limit)

    def get_token(self, token_id: str) -> Token:
        token = self._store.find_token(token_id) if re.match(_TOKEN_ID, token_id) else None
        if token is None:
            raise token_not_found()
        return token

    def revoke_token(self, token_id: str) -> None:
        if not re.match(_TOKEN_ID, token_id):
            raise token_not_found()
        self._store.delete_token(token_id)
