"""fnq's token API beside Fn's: `/v1/tokens` (create, list) and `/v1/tokens/{token}` (inspect, revoke).

Shaped like Fn's apps: `{"message": …, "token": {…}}` envelopes, paging by `cursor`/`per_page`.
The secret is in the create answer only (`token.secret`); nothing can show it again.
"""

from __future__ import annotations

from chalice import Response  # type: ignore[attr-defined]

from chalicelib.http import paging
from chalicelib.http.blueprint import body, query, register, use_cases
from chalicelib.http.responses import ok
from chalicelib.tokens import token_body


def list_tokens() -> Response:
    limit = paging.page_size(query("per_page"))
    tokens = use_cases().tokens.list_tokens(paging.decode_cursor(query("cursor")), limit)
    return ok(
        {
            "message": "Successfully listed tokens",
            "next_cursor": paging.next_cursor([t.id for t in tokens], limit),
            "tokens": [t.to_fn() for t in tokens],
        }
    )


def create_token() -> Response:
    token, secret = use_cases().tokens.create_token(token_body(body()))
    return ok({"message": "Token successfully created", "token": {**token.to_fn(), "secret": secret}})


def get_token(token: str) -> Response:
    return ok({"message": "Successfully loaded token", "token": use_cases().tokens.get_token(token).to_fn()})


def revoke_token(token: str) -> Response:
    use_cases().tokens.revoke_token(token)
    return ok({"message": "Token revoked"})


register("/v1/tokens", "tokens", GET=list_tokens, POST=create_token)
register("/v1/tokens/{token}", "token", GET=get_token, DELETE=revoke_token)
