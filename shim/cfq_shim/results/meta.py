"""A task's meta, as Celery's JSON result serializer writes it, and exceptions to and from JSON.

A stored meta is Celery's dict: ``status``, ``result``, ``traceback``, ``children``, ``date_done``,
``task_id``, plus ``group_id``/``parent_id`` when set and, with ``result_extended``, ``name``, ``args``,
``kwargs``, ``worker``, ``retries`` and ``queue``. An exception is stored as Celery stores it in JSON:
``{"exc_type": "ValueError", "exc_message": ["bad"], "exc_module": "builtins"}``.

Reading an exception back imports its module and rebuilds the original type when it can (a
BaseException subclass only: nothing else is ever instantiated). Otherwise it builds a stand-in class
with the same name that subclasses :class:`RemoteTaskError`, whose message says the type could not be
imported, so ``except ValueError`` still works for built-ins and the cause is never hidden.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from typing import Any

from .. import states

__all__ = [
    "RemoteTaskError", "encode_exception", "decode_exception", "is_encoded_exception", "build_meta",
    "encode_result", "decode_meta", "UnencodableResult", "pending_meta",
]


class RemoteTaskError(Exception):
    """Stands in for a task's exception whose type cannot be imported in this process."""


class UnencodableResult(TypeError):
    """A task returned a value JSON cannot carry; the task is stored as FAILURE with this error."""


def encode_exception(exc: BaseException) -> dict[str, Any]:
    try:
        args = json.loads(json.dumps(list(exc.args)))
    except (TypeError, ValueError):
        args = [_safe_str(exc)]
    return {"exc_type": type(exc).__qualname__, "exc_message": args, "exc_module": type(exc).__module__}


def is_encoded_exception(value: Any) -> bool:
    return isinstance(value, dict) and "exc_type" in value and "exc_message" in value


_stand_ins: dict[tuple[str, str], type] = {}


def _stand_in(module: str, name: str) -> type:
    key = (module, name)
    cls = _stand_ins.get(key)
    if cls is None:
        cls = type(name.rpartition(".")[2] or "RemoteTaskError", (RemoteTaskError,), {"__module__": module or "builtins"})
        _stand_ins[key] = cls
    return cls


def _find_class(module: str, name: str) -> type | None:
    try:
        target: Any = importlib.import_module(module or "builtins")
        for part in name.split("."):
            target = getattr(target, part)
    except Exception:  # noqa: BLE001 - not importable here: use the stand-in
        return None
    if isinstance(target, type) and issubclass(target, BaseException):
        return target
    return None


def decode_exception(value: dict[str, Any]) -> BaseException:
    """The exception a stored ``{"exc_type", "exc_message", "exc_module"}`` describes."""
    module, name = value.get("exc_module") or "builtins", str(value.get("exc_type") or "Exception")
    message = value.get("exc_message")
    args = tuple(message) if isinstance(message, (list, tuple)) else (message,)
    cls = _find_class(module, name)
    if cls is not None:
        try:
            return cls(*args)
        except Exception:  # noqa: BLE001 - a constructor with another signature
            try:
                exc = cls.__new__(cls)
                exc.args = args
                return exc
            except Exception:  # noqa: BLE001
                pass
    stand_in = _stand_in(module, name)
    text = " ".join(str(arg) for arg in args)
    return stand_in(f"{module}.{name}: {text} (the task raised {module}.{name}, which cannot be imported here)")


def encode_result(value: Any) -> Any:
    """``value`` as JSON-compatible data, or raise :class:`UnencodableResult` naming why."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise UnencodableResult(
            f"the task returned {type(value).__name__} {_short_repr(value)}, which JSON cannot carry ({exc}); "
            "return JSON types (dict, list, str, int, float, bool, None) or an id to look the object up"
        ) from None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def build_meta(
    task_id: str,
    state: str,
    result: Any,
    *,
    traceback: str | None = None,
    request: Any = None,
    extended: bool = False,
) -> dict[str, Any]:
    """Celery's meta for ``task_id`` in ``state``. ``result`` is already JSON-compatible (an exception
    was encoded by the caller)."""
    meta: dict[str, Any] = {
        "status": state,
        "result": result,
        "traceback": traceback,
        "children": [child.as_tuple() for child in getattr(request, "children", None) or ()],
        "date_done": now_iso() if state in states.READY_STATES else None,
        "task_id": task_id,
    }
    if request is not None:
        if getattr(request, "group", None):
            meta["group_id"] = request.group
        if getattr(request, "parent_id", None):
            meta["parent_id"] = request.parent_id
        if extended:
            delivery_info = getattr(request, "delivery_info", None) or {}
            meta.update({
                "name": getattr(request, "task", None),
                "args": _jsonable(getattr(request, "args", None)),
                "kwargs": _jsonable(getattr(request, "kwargs", None)),
                "worker": getattr(request, "hostname", None),
                "retries": getattr(request, "retries", None),
                "queue": delivery_info.get("routing_key"),
            })
    return meta


def pending_meta(task_id: str) -> dict[str, Any]:
    """What an id with nothing stored reads as (Celery's)."""
    return {"status": states.PENDING, "result": None, "traceback": None, "children": [], "date_done": None, "task_id": task_id}


def decode_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A stored meta with its exception (in exception states) rebuilt."""
    if meta.get("status") in states.EXCEPTION_STATES and is_encoded_exception(meta.get("result")):
        meta = {**meta, "result": decode_exception(meta["result"])}
    return meta


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(list(value) if isinstance(value, tuple) else value))
    except (TypeError, ValueError):
        return repr(value)


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return repr(value)


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."
