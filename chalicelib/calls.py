"""Use cases of recorded calls: read one, list them, read its log, cancel, redrive dead ones.

A call is read by id alone, so every use case checks it belongs to the app in the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib.errors import ConflictError, NotFoundError, TransitionError, call_not_found
from chalicelib.ids import is_call_id
from chalicelib.invoke import publish
from chalicelib.models import Call, CallStatus
from chalicelib.ports import AppStore, CallPage, CallQuery, CallQueue, CallStore, LogStore
from chalicelib.rules import existing_app_name, is_app_name

# Dead calls redriven per listing page when a whole app is redriven.
REDRIVE_PAGE = 100


class Calls:
    def __init__(
        self,
        apps: AppStore,
        calls: CallStore,
        queue: CallQueue,
        logs: LogStore,
        clock: Callable[[], datetime],
    ) -> None:
        self._apps = apps
        self._calls = calls
        self._queue = queue
        self._logs = logs
        self._clock = clock

    def get_call(self, app_name: str, call_id: str) -> Call:
        if not is_call_id(call_id):
            raise call_not_found()
        call = self._calls.get_call(call_id)
        if call.app_name != app_name:
            raise call_not_found()
        return call

    def list_calls(self, query: CallQuery) -> CallPage:
        """Newest first; an empty page for an app that exists, NotFoundError for one that does not."""
        existing_app_name(query.app_name)
        page = self._calls.list_calls(query)
        if not page.calls:
            self._apps.get_app(query.app_name)
        return page

    def get_log(self, app_name: str, call_id: str) -> bytes:
        """The log inline in the call's record (a sync call's small log), else from the log store."""
        if not is_call_id(call_id) or not is_app_name(app_name):
            raise NotFoundError("Call log not found")
        try:
            call = self.get_call(app_name, call_id)
        except NotFoundError as exc:
            raise NotFoundError("Call log not found") from exc
        if call.log is not None:
            return call.log
        return self._logs.get_log(app_name, call_id)

    def get_result(self, app_name: str, call_id: str) -> tuple[bytes, str]:
        """The response body alone and its content type (async calls; a sync caller had it)."""
        call = self.get_call(app_name, call_id)
        try:
            return self._logs.get_result(app_name, call_id)
        except NotFoundError:
            if call.status in (CallStatus.QUEUED, CallStatus.RUNNING):
                raise NotFoundError(
                    f"Call result not found: the call is still {call.status.value}, try again when it ends"
                ) from None
            raise

    def cancel_call(self, app_name: str, call_id: str) -> Call:
        self.get_call(app_name, call_id)
        try:
            return self._calls.cancel(call_id, self._clock())
        except TransitionError as exc:
            current = exc.current
            state = current.status.value if isinstance(current, Call) else "finished"
            raise ConflictError(f"Call is {state} and cannot be cancelled") from exc

    def redrive_call(self, app_name: str, call_id: str) -> Call:
        """Queue a dead call again (409 for any other); it gets a fresh allowance of attempts."""
        self.get_call(app_name, call_id)
        return self._redrive(call_id)

    def redrive_app(self, app_name: str) -> list[str]:
        """Redrive every dead call of the app; answers their ids.

        The listing is keyed by status (error); the conditional redrive itself tells dead calls
        from a function's own errors, so the listing need not.
        """
        redriven: list[str] = []
        query = CallQuery(app_name, status=CallStatus.ERROR, limit=REDRIVE_PAGE)
        while True:
            page = self.list_calls(query)
            for call in page.calls:  # listed under the app already: no second read
                with contextlib.suppress(ConflictError):
                    redriven.append(self._redrive(call.id).id)
            if not page.next_cursor:
                return redriven
            query = replace(query, cursor=page.next_cursor)

    def _redrive(self, call_id: str) -> Call:
        try:
            call = self._calls.redrive(call_id, self._clock())
        except TransitionError as exc:
            current = exc.current
            state = current.status.value if isinstance(current, Call) else "gone"
            raise ConflictError(f"Call is {state} and not dead: only dead calls can be redriven") from exc
        publish(self._queue, self._calls, call_id, self._clock)
        return call
