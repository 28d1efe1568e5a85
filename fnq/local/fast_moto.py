"""Make moto's SQS cost independent of the queue's depth, as the real service's is.

`fn start` serves its embedded AWS from this process with moto 5, where a backlog of calls made
every SQS request slower, and every API request beside it (one process, one GIL), so the backlog
grew. Measured with `python -m bench.load` (2,000 async calls from 16 clients): 1,500 messages
queued, 110 s to drain after the last submit. The causes, each patched here in-process (the way
`atomic_moto` patches DynamoDB), keeping moto's answers exactly:

* `ReceiveMessage` checks each message it delivers against the queue's retention period by
  computing *all* the queue's attributes, each Approximate* count a pass over every message:
  ~30 passes per receive of 10 (in-process: 9 ms at depth 10, 450 ms at 1,000, 1.7 s at 3,000).
  The retention period is read from the queue object instead (3, 10 and 25 ms).
* `SendMessage` computes all the attributes too (to read ContentBasedDeduplication), and every
  such pass reads the clock twice per message through a datetime round trip. `Message.visible`
  and `Message.delayed` read the same epoch milliseconds from `time.time()`.
* The moto server matches each request's host against hundreds of URL patterns, under one lock
  shared by all requests. The answer depends on the host alone: it is remembered per host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_MARK = "_fnq_fast"


def make_moto_server_fast() -> None:
    """Idempotent: apply the three patches above to moto's classes (this process only)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.models import Message, SQSBackend

    _replace(SQSBackend, "is_message_valid_based_on_retention_period", _retention_check)
    _replace(Message, "visible", property(_visible))
    _replace(Message, "delayed", property(_delayed))
    _replace(DomainDispatcherApplication, "get_backend_for_host", _remembered(DomainDispatcherApplication))


def _replace(owner: type, name: str, value: Any) -> None:
    current = owner.__dict__.get(name)
    target = current.fget if isinstance(current, property) else current
    if current is None or getattr(target, _MARK, False):
        return  # gone in this moto version (nothing to fix), or already replaced
    marked = value.fget if isinstance(value, property) else value
    setattr(marked, _MARK, True)
    setattr(owner, name, value)


def _retention_check(self: Any, queue_name: str, message: Any) -> bool:
    # moto: retention_period + sent_timestamp / 1000 > unix_time(), the period read from the
    # attributes the queue computes; here from the queue field those attributes are built from.
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_period + message.sent_timestamp / 1000 > time.time())


def _visible(self: Any) -> bool:
    return bool(time.time() * 1000 > self.visible_at)


def _delayed(self: Any) -> bool:
    return bool(time.time() * 1000 < self.delayed_until)


def _remembered(owner: type) -> Callable[..., Any]:
    original: Callable[..., Any] = owner.__dict__["get_backend_for_host"]

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        cache: dict[str | None, Any] = self.__dict__.setdefault("_fnq_backend_by_host", {})
        if host not in cache:
            cache[host] = original(self, host)
        return cache[host]

    return get_backend_for_host
