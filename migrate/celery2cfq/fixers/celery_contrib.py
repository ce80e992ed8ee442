"""``celery.contrib`` modules the shim lacks are reported (CFQ510) in place of CFQ103.

The import stays on Celery, so the rewrite passes and the module still imports while Celery is
installed; but these helpers work on Celery's own tasks, results and workers, so with the shim's
they fail or do nothing. Each finding says what to use instead. ``celery.contrib.django.task``'s
``DjangoTask`` is the one the shim provides (``cfq_shim.fixups.django``), and is migrated.
"""

from __future__ import annotations

from ..names import MODULE_TARGETS
from ._base import Example, Rule

__all__ = ["RULES", "contrib_message", "is_contrib"]

RULES = (
    Rule(
        code="CFQ510",
        name="celery-contrib",
        title="A `celery.contrib` helper the shim lacks",
        description=(
            "The import is left on Celery, but the helper works on Celery's own tasks, results and workers: "
            "`abortable` (check a flag the task reads instead), `pytest`/`testing` beyond what the shim has (its "
            "pytest plugin's fixtures and `start_worker` are migrated: CFQ101, CFQ105), `rdb` (use `breakpoint()` with a remote debugger), `sphinx` "
            "(document the task functions with autodoc), `migrate` (drain the old broker with Celery during the "
            "rollout)."
        ),
        examples=(
            Example(
                before=(
                    "from celery import shared_task\nfrom celery.contrib.abortable import AbortableTask\n\n"
                    "@shared_task(bind=True, base=AbortableTask)\ndef crawl(self):\n    return self.is_aborted()\n"
                ),
                after=(
                    "from cfq_shim import shared_task\nfrom celery.contrib.abortable import AbortableTask\n\n"
                    "@shared_task(bind=True, base=AbortableTask)\ndef crawl(self):\n    return self.is_aborted()\n"
                ),
            ),
        ),
    ),
)

_TESTING = (
    "it drives a Celery app and worker, so the tests would not run the migrated code: use the fixtures of "
    "cfq_shim's pytest plugin (celery_app, celery_worker, ...) or cfq_shim.contrib.testing.worker.start_worker"
)
#: celery.contrib submodule -> what it does with the shim, and what to use instead.
_ADVICE = {
    "abortable": (
        "AbortableTask is a Celery Task (the shim refuses it as base=) and aborting needs Celery's result "
        "backend: have the task check a flag it can read (a database row or cache key) and return early"
    ),
    "pytest": _TESTING,
    "testing": _TESTING,
    "rdb": (
        "the remote debugger works only while Celery stays installed: use breakpoint() with a remote debugger "
        "(PYTHONBREAKPOINT=remote_pdb.set_trace), or run the worker with -P solo in a terminal"
    ),
    "sphinx": "documents Celery task objects only and skips the shim's: document the task functions with autodoc",
    "migrate": "moves messages between Celery brokers: drain the old broker with a Celery worker during the rollout",
}


def is_contrib(module: str) -> bool:
    return module == "celery.contrib" or module.startswith("celery.contrib.")


def contrib_message(module: str, names: list[str]) -> str:
    """The CFQ510 text for ``names`` imported from ``module`` (``import module`` when empty)."""
    submodule = module.split(".")[2] if module.count(".") >= 2 else (names[0] if names else "")
    what = f"{', '.join(names)} (from {module})" if names else module
    advice = _ADVICE.get(submodule, "it works on Celery's own tasks and workers, not the shim's")
    shim_module = MODULE_TARGETS.get(module, (None,))[0]
    missing = f"{shim_module} has no {', '.join(names)}" if shim_module and names else f"cfq_shim has no celery.contrib.{submodule}"
    return f"{what}: {missing}; left on Celery, but {advice}"
