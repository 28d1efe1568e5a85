"""The AWS requests fnq's own clients make, counted with botocore's event hooks.

Shared by tests/test_cost.py (which asserts the counts) and bench/ (which prints them), so the
figure the README quotes and the figure the tests hold are counted the one same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import wiring

if TYPE_CHECKING:
    from tests.conftest import Stack


class AwsRequests:
    """Every request of one set of components: operation names in order, and DynamoDB items read.

    `items_read` is what DynamoDB bills reads by: a Query's or Scan's `ScannedCount` (items
    evaluated before any filter, so a filtered query that returns nothing still counts what it
    read), plus the items a GetItem or BatchGetItem returned.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.items_read = 0
        self.queries = 0
        self._clients: list[Any] = []

    def clear(self) -> None:
        self.names.clear()
        self.items_read = 0
        self.queries = 0

    def stop(self) -> None:
        """Stop counting (the hooks stay on the clients otherwise, for the components' life)."""
        for client in self._clients:
            client.meta.events.unregister("before-call", self._before)
            client.meta.events.unregister("after-call", self._after)
        self._clients.clear()

    def _before(self, **kwargs: Any) -> None:
        self.names.append(kwargs["model"].name)

    def _after(self, **kwargs: Any) -> None:
        name = kwargs["model"].name
        parsed = kwargs.get("parsed") or {}
        if name in {"Query", "Scan"}:
            self.queries += 1
            self.items_read += int(parsed.get("ScannedCount", 0))
        elif name == "GetItem":
            self.items_read += 1 if parsed.get("Item") else 0
        elif name == "BatchGetItem":
            self.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())


def watch(components: wiring.Components) -> AwsRequests:
    """Start counting the requests of `components`' DynamoDB, S3 and SQS clients."""
    requests = AwsRequests()
    clients = components.clients
    for client in (clients.dynamodb, clients.s3, clients.sqs):
        client.meta.events.register("before-call", requests._before)
        client.meta.events.register("after-call", requests._after)
        requests._clients.append(client)
    return requests


def count_requests(components: wiring.Components) -> list[str]:
    """The operation names, appended to as requests are made (cleared by the caller)."""
    return watch(components).names


def async_call_requests(stack: Stack, app: str, route: str) -> tuple[list[str], list[str], str]:
    """(cold, warm, the warm call's id): the requests of one async call of a deployed async route,
    from submit to terminal, first on fresh components (empty route and bundle caches), then again."""
    fresh = wiring.build(stack.settings)
    wiring.install(fresh)
    requests = count_requests(fresh)
    stack.request("POST", f"/r/{app}/{route}")
    stack.work()
    cold = list(requests)
    requests.clear()
    call_id = stack.request("POST", f"/r/{app}/{route}").headers["Fn_call_id"]
    stack.work()
    return cold, list(requests), call_id
