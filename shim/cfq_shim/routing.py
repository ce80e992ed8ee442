"""Routing: which queue a task call goes to.

Celery's precedence: ``apply_async(queue=)`` > the task's ``queue=`` > ``task_routes`` >
``task_default_queue``. ``task_routes`` takes Celery's forms: a dict (exact names, then glob patterns and
compiled regexes, in order) mapping to a queue name or ``{"queue": ...}``; a router function
``(name, args, kwargs, options, task=None, **kw)`` or an object with ``route_for_task``; a ``"module.attr"``
path to either; or a list of these, first match wins.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

from .conf import Settings, load_object

if TYPE_CHECKING:  # pragma: no cover
    from .task import Task

__all__ = ["Router"]


class Router:
    """Routes task names to queues from the app's settings, caching static answers until they change."""

    def __init__(self, conf: Settings) -> None:
        self.conf = conf
        self._cache: dict[str, str] = {}
        self._cache_version = -1
        self._static = True
        self._routers: list[Any] = []
        self._routers_version = -1

    def routers(self) -> list[Any]:
        """``task_routes`` as a list of routers, ``"module.attr"`` paths imported; built again only when
        the settings change (a router function is called on every send)."""
        if self._routers_version != self.conf.changes:
            routes = self.conf.task_routes  # may read pending config sources, which changes the count
            if not routes:
                routes = []
            elif isinstance(routes, (dict, str)) or callable(routes):
                routes = [routes]
            self._routers = [load_object(router) if isinstance(router, str) else router for router in routes]
            self._routers_version = self.conf.changes
        return self._routers

    def route(self, name: str, args: Any = None, kwargs: Any = None, options: dict | None = None, task: "Task | None" = None) -> str:
        """The queue from ``task_routes``, else ``task_default_queue``."""
        for router in self.routers():
            if isinstance(router, dict):
                route = _match_map_route(router, name)
            else:
                route_fn = getattr(router, "route_for_task", router)
                try:
                    route = route_fn(name, args or (), kwargs or {}, options or {}, task=task)
                except TypeError:
                    route = route_fn(name, args or (), kwargs or {})
            queue = _queue_of(route)
            if queue:
                return queue
        return self.conf.task_default_queue

    def queue_for(self, name: str, task: "Task | None", args: Any = None, kwargs: Any = None) -> str:
        """The task's own ``queue``, else :meth:`route`; cached per name while the routes are static
        (dicts only) and the settings unchanged."""
        if self._cache_version != self.conf.changes:
            self._cache.clear()
            self._cache_version = self.conf.changes
            self._static = all(isinstance(router, dict) for router in self.routers())
        queue = self._cache.get(name)
        if queue is not None:
            return queue
        queue = task.queue if task is not None and task.queue else self.route(name, args, kwargs, None, task)
        if self._static:
            self._cache[name] = queue
        return queue

    def named_queues(self) -> set[str]:
        """Queues named in dict routes and ``task_queues``."""
        names: set[str] = set()
        for router in self.routers():
            if isinstance(router, dict):
                names.update(filter(None, (_queue_of(route) for route in router.values())))
        for queue in self.conf.get("task_queues") or ():
            if isinstance(queue, str):
                names.add(queue)
            elif isinstance(queue, dict):
                names.update(filter(None, [queue.get("name")]))
            elif getattr(queue, "name", None):
                names.add(queue.name)
        return names


def _queue_of(route: Any) -> str | None:
    if route is None:
        return None
    if isinstance(route, str):
        return route
    if isinstance(route, dict):
        queue = route.get("queue")
        if queue is None:
            return None
        return queue if isinstance(queue, str) else getattr(queue, "name", None)
    return getattr(route, "name", None)


def _match_map_route(routes: dict, name: str) -> Any:
    """Celery's MapRoute: an exact name first, then glob and regex keys in order."""
    if name in routes:
        return routes[name]
    for pattern, route in routes.items():
        if isinstance(pattern, re.Pattern):
            if pattern.match(name):
                return route
        elif isinstance(pattern, str) and any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return route
    return None


