"""Celery's built-in tasks that canvas primitives send: ``celery.map``, ``celery.starmap`` and
``celery.chunks``. Every app registers them when it is finalized, as Celery does, so a worker runs
``task.map(...)``, ``task.starmap(...)`` and ``task.chunks(...)`` sent from any process.

Each runs the mapped task in-process, item after item (a direct call, as in Celery), and returns the
list of results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .canvas import chunks, signature

if TYPE_CHECKING:  # pragma: no cover
    from .app import Celery

__all__ = ["add_builtin_tasks", "BUILTIN_TASK_NAMES"]

BUILTIN_TASK_NAMES = ("celery.map", "celery.starmap", "celery.chunks")


def add_builtin_tasks(app: "Celery") -> None:
    """Register the built-in tasks on ``app`` (once)."""
    if "celery.map" in app._tasks:
        return

    @app.task(name="celery.map", shared=False, lazy=False)
    def xmap(task: Any, it: list) -> list:
        run = signature(task, app=app).type
        return [run(item) for item in it]

    @app.task(name="celery.starmap", shared=False, lazy=False)
    def xstarmap(task: Any, it: list) -> list:
        run = signature(task, app=app).type
        return [run(*item) for item in it]

    @app.task(name="celery.chunks", shared=False, lazy=False)
    def run_chunks(task: Any, it: list, n: int) -> Any:
        return chunks(signature(task, app=app), it, n).group().apply_async()
