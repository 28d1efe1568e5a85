"""Fn's v1 HTTP API on a Chalice blueprint.

`fn_v1` holds the views, `tokens_v1` fnq's token API beside them, `paging` Fn's paging
parameters, `responses` Fn's envelopes and the one error → status table, `access` the right
every route needs, `blueprint` the registration, the token check and the bound use cases.
"""

from chalicelib.http import fn_v1, tokens_v1
from chalicelib.http.blueprint import UseCases, bind, bp

__all__ = ["UseCases", "bind", "bp", "fn_v1", "tokens_v1"]
