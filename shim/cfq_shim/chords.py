"""Chord fan-in without a polling task: each header task counts itself, and the last one fires the body.

When ``chord(header)(body)`` is sent (:class:`cfq_shim.canvas.chord`), the header's task ids are saved
as a group in the result backend, and every header task carries the body (``request.chord``) and the
header's size (``request.chord_size``). When a header task ends (success or failure, after its own
result is stored), :func:`on_chord_part_return`:

1. adds the task's id to the chord's set and reads the set's size in one atomic step: a header task
   delivered twice counts once, so it can never fire the body early;
2. when the size reaches ``chord_size``, claims the chord (:meth:`ResultBackend.claim_once`): exactly
   one caller wins; a winner whose worker dies before sending keeps the claim, and its task, delivered
   again, claims and sends then;
3. reads the header's results in order and sends the body with them, or, when a header task failed,
   fails the body with ``ChordError("Dependency <id> raised <exc>")`` and runs the body's ``link_error``
   (Celery's behaviour), without running the body;
4. marks the claim complete, after which nothing fires the body again.

The one remaining window is a worker killed between sending the body and step 4: the header task is
delivered again and, unless the body has stored a state by then (it ran, or started), sends the body
a second time (at-least-once, like every message here; the body keeps its task id, so its result is
the same record).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import states
from .canvas import maybe_signature
from .exceptions import ChordError
from .execution import apply_errbacks
from .request import Context
from .result import result_from_tuple

if TYPE_CHECKING:  # pragma: no cover
    from .backend import Backend

__all__ = ["on_chord_part_return", "chord_key"]

logger = logging.getLogger("cfq_shim.chords")


def chord_key(group_id: str) -> str:
    return f"chord-{group_id}"


def on_chord_part_return(backend: "Backend", request: Any, state: str, result: Any) -> None:
    """Count one finished header task of ``request.group``'s chord; fire the body if it was the last."""
    group_id = request.group
    body = maybe_signature(request.chord)
    if not group_id or body is None:
        return
    app = body.app
    store = backend.store
    key = chord_key(group_id)
    size = request.get("chord_size")
    header = None
    if size is None:
        header = _restore_header(backend, group_id, app)
        size = len(header)
    count = store.add_to_set(key, request.id, expires_seconds=backend.expires)
    if count < size:
        return
    if not store.claim_once(key, request.id, expires_seconds=backend.expires):
        return
    if header is None:
        header = _restore_header(backend, group_id, app)
    _fire(backend, app, body, header)
    store.complete_claim(key, request.id, expires_seconds=backend.expires)
    store.discard_set(key)


def _restore_header(backend: "Backend", group_id: str, app: Any) -> Any:
    stored = backend.restore_group(group_id)
    if stored is None:
        raise ChordError(f"chord {group_id}: the header's group is not in the result backend (expired?)")
    return result_from_tuple(stored, app)


def _fire(backend: "Backend", app: Any, body: Any, header: Any) -> None:
    body_id = body.options.get("task_id")
    if body_id and backend.task_result_exists(body_id):
        # A claim re-taken after a crash: the body was sent (and has run, or started) already.
        return
    ids = [result.id for result in header.results]
    metas = backend.get_task_metas(ids)
    values = []
    for task_id in ids:
        meta = metas[task_id]
        if meta["status"] in states.PROPAGATE_STATES:
            _fail_body(backend, app, body, ChordError(f"Dependency {task_id} raised {meta['result']!r}"))
            return
        values.append(meta["result"])
    try:
        body.apply_async((values,))
    except Exception as exc:  # noqa: BLE001 - Celery fails the chord when the body cannot be sent
        logger.exception("Chord body %r could not be sent", body.name)
        _fail_body(backend, app, body, ChordError(f"Callback error: {exc!r}"))


def _fail_body(backend: "Backend", app: Any, body: Any, exc: ChordError) -> None:
    """Celery's ``chord_error_from_stack``: the body's errbacks run with a request made from the body,
    and the body's result is stored as FAILURE."""
    body_id = body.options.get("task_id")
    request = Context(
        dict(body), id=body_id, errbacks=body.options.get("link_error", []), delivery_info={},
        root_id=body.options.get("root_id"), is_eager=False,
    )
    try:
        apply_errbacks(app, body.name, request, exc, None)
    except Exception as errback_error:  # noqa: BLE001
        exc = ChordError(f"{exc} (and its errback raised {errback_error!r})")
    if body_id:
        backend.store_result(body_id, exc, states.FAILURE)
