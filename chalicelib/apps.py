"""Use cases of apps: Fn's create, update (config merge) and delete, which takes the logs too."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from chalicelib import rules
from chalicelib.errors import NotFoundError
from chalicelib.models import App
from chalicelib.ports import AppStore, LogStore


class Apps:
    def __init__(self, apps: AppStore, logs: LogStore, clock: Callable[[], datetime]) -> None:
        self._apps = apps
        self._logs = logs
        self._clock = clock

    def list_apps(self, after_name: str | None, limit: int, only: frozenset[str] | None = None) -> list[App]:
        """Apps by name; with `only` (a token's apps), those of them that exist, read by name."""
        if only is None:
            return self._apps.list_apps(after_name, limit)
        found: list[App] = []
        for name in sorted(n for n in only if after_name is None or n > after_name):
            if len(found) == limit:
                break
            with contextlib.suppress(NotFoundError):
                found.append(self._apps.get_app(name))
        return found

    def create_app(self, data: dict[str, object]) -> App:
        return self._apps.create_app(rules.new_app(data, self._clock()))

    def get_app(self, name: str) -> App:
        return self._apps.get_app(rules.existing_app_name(name))

    def update_app(self, name: str, data: dict[str, object]) -> App:
        return self._apps.put_app(rules.updated_app(self.get_app(name), data, self._clock()))

    def delete_app(self, name: str) -> None:
        self._apps.delete_app(rules.existing_app_name(name))
        self._logs.delete_logs(name)
