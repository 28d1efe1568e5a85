"""What every route of the API needs from the request's token: the one table, and its check.

A token holds rights on apps (chalicelib/tokens.py). Each (resource, method) a view serves is
classified here, once; `blueprint.register` refuses to register a view that is not, so no
route can be left open by forgetting it. Refusals are decided from the token and the request
alone, before anything is read: a token outside app B gets the same 403 whether B exists or
not, so a refusal reveals nothing about other apps (docs/TOKENS.md).
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from chalicelib.errors import ForbiddenError
from chalicelib.models import Right
from chalicelib.tokens import Grant


class Scope(Enum):
    """Where a route's right must hold."""

    PUBLIC = "public"  # no token at all: Fn's ping and version
    TOKEN = "token"  # any valid token: a method or path no view serves (Fn's 404)
    APP = "app"  # on the app in the path (`{app}`)
    NAMED = "named"  # on the app the body names: the view calls `require` once it has parsed it
    LISTED = "listed"  # on some app; the answer lists only the apps the token holds the right on
    ANY_APP = "any app"  # on at least one app: what belongs to no app (content-addressed bundles)
    EVERY_APP = "every app"  # on every app (`*`): the tokens themselves


# A NamedTuple, as immutable as a frozen dataclass and a fifth of its cost to define at import.
class Access(NamedTuple):
    scope: Scope
    right: Right | None = None


PUBLIC = Access(Scope.PUBLIC)
# A method that no view of the resource serves: answered with Fn's 404, to token holders only.
UNSERVED = Access(Scope.TOKEN)
INVOKE = Access(Scope.APP, Right.INVOKE)
READ = Access(Scope.APP, Right.READ)
DEPLOY = Access(Scope.APP, Right.DEPLOY)
TOKENS = Access(Scope.EVERY_APP, Right.ADMIN)
# Every method a resource answers (blueprint.METHODS); invoke passes any of them to the function.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# (resource, method) → what it needs. The resource is the name a view is registered under
# (chalicelib/http/fn_v1.py, tokens_v1.py; for a view registered outside blueprint.register,
# which no token check wraps, its Chalice name, and it must be public); tests/test_tokens_access.py
# checks both ways that this table and the app's routes agree.
ACCESS: dict[tuple[str, str], Access] = {
    ("ping", "GET"): PUBLIC,
    ("version", "GET"): PUBLIC,
    ("apps", "GET"): Access(Scope.LISTED, Right.READ),
    ("apps", "POST"): Access(Scope.NAMED, Right.DEPLOY),
    ("app", "GET"): READ,
    ("app", "PATCH"): DEPLOY,
    ("app", "DELETE"): DEPLOY,
    # The key that signs the app's callbacks: whoever holds it can forge one, so not READ.
    ("callback_secret", "GET"): DEPLOY,
    ("callback_secret", "POST"): DEPLOY,
    ("routes", "GET"): READ,
    ("routes", "POST"): DEPLOY,
    ("route", "GET"): READ,
    ("route", "PUT"): DEPLOY,
    ("route", "PATCH"): DEPLOY,
    ("route", "DELETE"): DEPLOY,
    ("calls", "GET"): READ,
    ("call", "GET"): READ,
    ("call_log", "GET"): READ,
    ("call_result", "GET"): READ,
    # Cancel and redrive start or stop runs of the app's functions, as invoking does.
    ("call_cancel", "POST"): INVOKE,
    ("call_redrive", "POST"): INVOKE,
    ("calls_redrive", "POST"): INVOKE,
    ("bundle", "GET"): Access(Scope.ANY_APP, Right.DEPLOY),
    ("bundle", "PUT"): Access(Scope.ANY_APP, Right.DEPLOY),
    **{("invoke_root", method): INVOKE for method in METHODS},
    **{("invoke", method): INVOKE for method in METHODS},
    ("tokens", "GET"): TOKENS,
    ("tokens", "POST"): TOKENS,
    ("token", "GET"): TOKENS,
    ("token", "DELETE"): TOKENS,
    # The dashboard's static files (chalicelib/ui, its own blueprint, outside this module's check):
    # the same for everyone and holding no data, so public for every method (all but GET are 404).
    **{("ui_page", method): PUBLIC for method in METHODS},
    **{("ui_asset", method): PUBLIC for method in METHODS},
}


def check(access: Access, grant: Grant, app: str | None) -> None:
    """Raise ForbiddenError unless `grant` meets `access` (for APP, on `app` from the path)."""
    right = access.right
    if access.scope in (Scope.PUBLIC, Scope.TOKEN) or right is None:
        return
    if access.scope is Scope.APP:
        if app is None:
            raise TypeError("an APP-scoped route has no {app} in its path")
        require(grant, right, app)
    elif access.scope is Scope.EVERY_APP:
        if not grant.everywhere(right):
            raise ForbiddenError(f"Forbidden: the token has no {right} right on every app")
    elif not grant.anywhere(right):
        raise ForbiddenError(f"Forbidden: the token has no {right} right")


def require(grant: Grant, right: Right, app: str) -> None:
    if not grant.allows(right, app):
        raise ForbiddenError(f"Forbidden: the token has no {right} right on app {app[:64]}")
