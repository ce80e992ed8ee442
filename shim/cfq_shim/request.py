"""``task.request``: the context of the task call being executed, with Celery's attribute names."""

from __future__ import annotations

from typing import Any

__all__ = ["Context"]


class Context:
    """What a running task knows about its own call. Unset attributes read as Celery's defaults."""

    id: str | None = None
    task: str | None = None
    args: Any = None
    kwargs: Any = None
    retries: int = 0
    eta: Any = None
    expires: Any = None
    is_eager: bool = False
    headers: dict | None = None
    delivery_info: dict | None = None
    reply_to: str | None = None
    correlation_id: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    chord: Any = None
    chain: Any = None
    utc: bool = True
    called_directly: bool = True
    callbacks: Any = None
    errbacks: Any = None
    timelimit: Any = None
    origin: str | None = None
    hostname: str | None = None
    ignore_result: bool = False
    loglevel: int | None = None
    logfile: str | None = None
    taskset: str | None = None
    stamped_headers: Any = None
    stamps: Any = None

    def __init__(self, *args: dict, **kwargs: Any) -> None:
        self.update(*args, **kwargs)

    def update(self, *args: dict, **kwargs: Any) -> None:
        for mapping in args:
            self.__dict__.update(mapping)
        self.__dict__.update(kwargs)

    def clear(self) -> None:
        self.__dict__.clear()

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "_children"}

    def __repr__(self) -> str:
        return f"<Context: {self.__dict__!r}>"

    _children: list | None = None

    @property
    def children(self) -> list:
        """Results of the tasks this call sent (stored in its meta as ``children``); one list per request."""
        if self._children is None:
            self._children = []
        return self._children
