"""The composition root: Settings → adapters → use cases. The tests' seam.

Built on first use (the first request or message), never at import, so moto or a local endpoint
is in place before any client exists; install() lets tests and the local stack put their own in place.
What only some Lambdas need (the runner, the worker's batch handlers and callback delivery, the
scheduled sweeper) is built, and its modules imported, when first asked for: every Lambda imports
app.py, and the others never pay for them (bench row 6; docs/ARCHITECTURE.md, "The cold start").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from chalicelib.addresses import AddressGuard
from chalicelib.apps import Apps
from chalicelib.aws.clients import AwsClients
from chalicelib.aws.dynamodb.apps import DynamoAppStore
from chalicelib.aws.dynamodb.calls import DynamoCallStore
from chalicelib.aws.dynamodb.routes import DynamoRouteStore
from chalicelib.aws.dynamodb.secrets import DynamoCallbackSecretStore
from chalicelib.aws.dynamodb.table import DynamoTable
from chalicelib.aws.dynamodb.tokens import DynamoTokenStore
from chalicelib.aws.s3 import S3Blobs
from chalicelib.aws.sqs import SqsCallQueue
from chalicelib.cache import CachedAppStore, CachedRouteStore, RouteCache
from chalicelib.callbacks import CallbackSecrets, NotifyingCallStore
from chalicelib.calls import Calls
from chalicelib.http import UseCases
from chalicelib.ids import utcnow
from chalicelib.invoke import InvokeLimits, Invoker, withheld_headers
from chalicelib.ports import Execution, FunctionExecutor, Invocation
from chalicelib.routes import Routes
from chalicelib.settings import Settings
from chalicelib.tokens import Tokens
from chalicelib.uploads import BundleUploads

if TYPE_CHECKING:
    from chalicelib.batch import CallBatchHandler, DeadLetterHandler
    from chalicelib.execute.executor import Executor
    from chalicelib.runner import CallRunner
    from chalicelib.sweeper import Sweeper


class Stores(NamedTuple):
    """The adapters behind the ports, as the use cases get them (apps and routes through the cache).

    A NamedTuple, as http.UseCases: a bundle made once and never compared, whose class costs a
    fifth of a frozen dataclass's to define on the cold start (bench row 6).
    """

    apps: CachedAppStore
    routes: CachedRouteStore
    # Every write that ends a call with a callback URL also queues its delivery (callbacks.py).
    calls: NotifyingCallStore
    tokens: DynamoTokenStore
    callback_secrets: DynamoCallbackSecretStore
    blobs: S3Blobs  # code bundles, logs and large payloads
    queue: SqsCallQueue


@dataclass(frozen=True, eq=False)  # compared by identity, as the services it holds are
class Components:
    settings: Settings
    clients: AwsClients
    stores: Stores
    executor: FunctionExecutor
    clock: Callable[[], datetime]
    guard: AddressGuard  # where callbacks may go: the routes, the invoker and the deliverer agree

    # The rest is made at its first use (once: Python 3.11's cached_property locks; where it does
    # not, two racing threads would each make one, which only keep their arguments). The use cases
    # serve the API. The runner, as the executor (PlatformExecutor), comes with the first sync
    # call or batch: runner.py is imported then. Each Lambda's own handler (app.py) too: an API
    # Lambda never imports batch.py, delivery.py (with its HTTP client) or sweeper.py.
    @cached_property
    def use_cases(self) -> UseCases:
        settings, stores, clock = self.settings, self.stores, self.clock
        limits = InvokeLimits(
            max_request_bytes=settings.max_request_bytes,
            inline_body_bytes=settings.inline_body_bytes,
            lease_grace_seconds=settings.lease_grace_seconds,
            lease_seconds=settings.lease_seconds if settings.heartbeat_seconds > 0 else 0,
        )
        return UseCases(
            apps=Apps(stores.apps, stores.blobs, clock),
            routes=Routes(
                stores.apps,
                stores.routes,
                stores.blobs,
                clock,
                settings.max_async_timeout,
                settings.max_sync_timeout,
                self.guard,
            ),
            bundles=BundleUploads(stores.blobs),
            invoker=Invoker(
                stores.routes,
                stores.calls,
                stores.queue,
                stores.blobs,
                lambda: self.runner,
                clock,
                limits,
                withheld_headers(bool(settings.api_token)),
                self.guard,
            ),
            calls=Calls(stores.apps, stores.calls, stores.queue, stores.blobs, clock),
            tokens=Tokens(stores.tokens, clock, settings.api_token),
            callback_secrets=CallbackSecrets(stores.apps, stores.callback_secrets),
        )

    @cached_property
    def runner(self) -> CallRunner:
        from chalicelib.runner import CallRunner, Heartbeats

        settings, stores = self.settings, self.stores
        return CallRunner(
            calls=stores.calls,
            code=stores.blobs,
            payloads=stores.blobs,
            logs=stores.blobs,
            queue=stores.queue,
            executor=self.executor,
            clock=self.clock,
            max_attempts=settings.max_attempts,
            heartbeat=Heartbeats(settings.heartbeat_seconds, settings.lease_seconds)
            if settings.heartbeat_seconds > 0
            else None,
            inline_log_bytes=settings.inline_log_bytes,
        )

    @cached_property
    def calls_handler(self) -> CallBatchHandler:
        from chalicelib.batch import CallBatchHandler
        from chalicelib.delivery import CallbackDeliverer, CallbackPolicy
        from chalicelib.webhook import WebhookLimits

        settings, stores = self.settings, self.stores
        deliverer = CallbackDeliverer(
            stores.calls,
            self.use_cases.callback_secrets,
            stores.queue,
            self.guard,
            self.clock,
            CallbackPolicy(
                settings.callback_max_attempts,
                settings.callback_backoff_seconds,
                WebhookLimits(settings.callback_timeout_seconds),
            ),
        )
        return CallBatchHandler(
            self.runner,
            stores.queue,
            self.clock,
            settings.worker_margin_seconds,
            settings.lease_grace_seconds,
            callbacks=deliverer,
        )

    @cached_property
    def dead_letters(self) -> DeadLetterHandler:
        from chalicelib.batch import DeadLetterHandler

        return DeadLetterHandler(self.stores.calls, self.clock)

    @cached_property
    def sweeper(self) -> Sweeper:
        from chalicelib.sweeper import Sweeper

        return Sweeper(self.stores.calls, self.stores.queue, self.clock)


class PlatformExecutor:
    """The platform's executor, made when the first function runs rather than at the cold start.

    chalicelib.execute is a fifth of the import time of `import app` (bench row 6), and an API
    Lambda needs it only for sync calls, a worker at its first batch. With `guard`, the process
    is guarded (guard.py) right before its first function runs, which is what the guard asks
    for; without, the executor takes the process as it is (`fn start` guards itself first, the
    tests stay unguarded and wait for their own children).
    """

    def __init__(self, settings: Settings, guard: bool = False) -> None:
        self._settings = settings
        self._guard = guard
        self._lock = threading.Lock()
        self._executor: Executor | None = None

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        with self._lock:
            if self._executor is None:
                from chalicelib.execute.executor import Executor
                from chalicelib.execute.guard import guard_this_process

                if self._guard:
                    guard_this_process()  # before this process (an API or worker Lambda) runs any function
                self._executor = Executor.from_settings(self._settings)
            executor = self._executor
        return executor.execute(code_dir, invocation)


def build_stores(settings: Settings, clients: AwsClients) -> Stores:
    table = DynamoTable(clients, settings.table, settings.call_shards)
    cache = RouteCache(settings.route_cache_seconds)
    queue = SqsCallQueue(clients, settings.calls_queue_url)
    return Stores(
        apps=CachedAppStore(DynamoAppStore(table), cache),
        routes=CachedRouteStore(DynamoRouteStore(table), cache),
        calls=NotifyingCallStore(
            DynamoCallStore(table, settings.call_retention_days, settings.sweep_queued_seconds), queue
        ),
        tokens=DynamoTokenStore(table),
        callback_secrets=DynamoCallbackSecretStore(table),
        blobs=S3Blobs(clients, settings.bucket, settings.cache_dir),
        queue=queue,
    )


def build(
    settings: Settings,
    executor: FunctionExecutor | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Components:
    clients = AwsClients(settings.region, settings.endpoint_url, settings.aws_max_attempts)
    stores = build_stores(settings, clients)
    guard = AddressGuard(settings.callback_allow_private)
    return Components(settings, clients, stores, executor or PlatformExecutor(settings), clock, guard)


_lock = threading.Lock()
_components: Components | None = None


def components() -> Components:
    global _components
    with _lock:
        if _components is None:
            settings = Settings.from_env()
            _components = build(settings, PlatformExecutor(settings, guard=True))
        return _components


def install(value: Components | None) -> None:
    """Use these components from now on (tests, the local stack); None rebuilds from the environment."""
    global _components
    with _lock:
        _components = value
