"""Result backends: kept when the shim supports them, replaced on request, reported otherwise; and
code that reads results where no backend is configured is reported at each place.

``cfq_shim`` stores results behind one seam with these backends: ``redis://``/``rediss://`` (the Redis a
project already keeps results in, even after the broker moves), ``db+<SQLAlchemy URL>``, ``django-db``,
``sqlite:///path``, ``d1://DATABASE_ID`` and ``memory://``. A project's supported backend stays as it is,
without a finding. ``--result-backend URL`` replaces the one a project has (CFQ210). Any other scheme
(``rpc://``, ``amqp://``, ``cache+memcached://``, ``mongodb://``, …) makes the shim fail at start-up, so
it is reported with the choices (CFQ207). A backend set from the broker's variable
(``CELERY_RESULT_BACKEND = CELERY_BROKER_URL``) would become ``cloudflare://`` with the broker, which
stores no results (CFQ211).

Where no result backend is configured anywhere in the project, reading a task's result raises on the
shim (as it never worked on Celery either): ``.get()``, ``.state``/``.status``/``.info``/``.result``,
``.ready()`` and the like on a task's result, ``AsyncResult(…)``, and ``update_state`` in a task are
each reported at their line (CFQ502), once per statement.
"""

from __future__ import annotations

import libcst as cst

from ..index import APP, TASK, TASK_CLASS
from ._base import (
    Example, FileContext, Fixer, Rule, dotted_name, has_result_backend, keyword_name, quoted_like, string_value,
)
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = [
    "ResultGetFixer", "handle_setting", "RULES", "SUPPORTED_BACKENDS", "backend_scheme", "is_supported_backend",
]

#: What cfq_shim's results seam accepts, as the choices a message names.
SUPPORTED_BACKENDS = (
    "redis://", "rediss://", "db+<SQLAlchemy URL>", "django-db", "sqlite:///path", "d1://DATABASE_ID", "memory://",
)
_SUPPORTED_SCHEMES = frozenset({"redis", "rediss", "django-db", "sqlite", "d1", "memory"})
_CHOICES = ", ".join(SUPPORTED_BACKENDS)

_TASK = "from celery import shared_task\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
_TASK_AFTER = _TASK.replace("from celery", "from cfq_shim")

RULES = (
    Rule(
        code="CFQ207",
        name="unsupported-result-backend",
        title="A result backend the shim does not support",
        description=(
            f"cfq_shim stores results in {_CHOICES}; these are kept without a finding. Another scheme (`rpc://`, "
            "`amqp://`, `cache+memcached://`, `mongodb://`, ...) fails when the app starts: choose one of them, or "
            "run with `--result-backend URL` (CFQ210)."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj', backend='rpc://')\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj', backend='rpc://')\n",
            ),
        ),
    ),
    Rule(
        code="CFQ210",
        name="result-backend-replaced",
        title="`--result-backend URL` replaces the project's result backend",
        description=(
            "With `--result-backend URL` (one of " + _CHOICES + "), every result backend the project configures "
            "becomes that URL: literal values, the default of an environment read (the variable itself still wins "
            "where it is set), and a backend taken from the broker's variable."
        ),
        rewrites=True,
        examples=(
            Example(
                path="proj/celery.py",
                options=(("result_backend", "sqlite:///results.db"),),
                before="import os\nfrom celery import Celery\n\napp = Celery('proj', backend=os.environ.get('RESULTS', 'rpc://'))\n",
                after=(
                    "import os\nfrom cfq_shim import Celery\n\n"
                    "app = Celery('proj', backend=os.environ.get('RESULTS', 'sqlite:///results.db'))\n"
                ),
            ),
        ),
    ),
    Rule(
        code="CFQ211",
        name="result-backend-from-broker",
        title="A result backend taken from the broker's variable",
        description=(
            "`CELERY_RESULT_BACKEND = CELERY_BROKER_URL` used one Redis for both. The broker is now "
            "`cloudflare://`, which stores no results: give the backend its own URL (the Redis URL it had, or "
            "another of " + _CHOICES + "), or run with `--result-backend URL`."
        ),
        examples=(
            Example(
                path="proj/settings.py",
                files=((
                    "proj/celery.py",
                    "import os\nfrom celery import Celery\n\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n"
                    "app = Celery('proj')\napp.config_from_object('django.conf:settings', namespace='CELERY')\n",
                ),),
                before="CELERY_BROKER_URL = 'redis://localhost:6379/0'\nCELERY_RESULT_BACKEND = CELERY_BROKER_URL\n",
                after="CELERY_BROKER_URL = 'cloudflare://'\nCELERY_RESULT_BACKEND = CELERY_BROKER_URL\n",
            ),
        ),
    ),
    Rule(
        code="CFQ502",
        name="results-without-backend",
        title="A task's result is read where no result backend is configured",
        description=(
            "`.get()`, `.state`, `.status`, `.info`, `.result`, `.ready()` (and the other result methods) on a "
            "task's result, `AsyncResult(...)`, and `update_state` in a task need a result backend. None is "
            "configured in the project, so the shim raises there (Celery could not answer either). Reported at "
            "each place; configure one (`sqlite:///path` on one machine, `redis://` or `d1://` across machines)."
        ),
        examples=(
            Example(
                before=_TASK + "\ndef total():\n    return add.delay(1, 2).get(timeout=5)\n",
                after=_TASK_AFTER + "\ndef total():\n    return add.delay(1, 2).get(timeout=5)\n",
            ),
            Example(
                path="proj/views.py",
                files=(("proj/tasks.py", _TASK),),
                before=(
                    "from proj.tasks import add\n\ndef status(task_id):\n    job = add.AsyncResult(task_id)\n"
                    "    return {'state': job.state, 'done': job.ready()}\n"
                ),
                after=(
                    "from proj.tasks import add\n\ndef status(task_id):\n    job = add.AsyncResult(task_id)\n"
                    "    return {'state': job.state, 'done': job.ready()}\n"
                ),
            ),
        ),
    ),
)

#: Methods whose return value is a task's result.
RESULT_METHODS = frozenset({"delay", "apply_async", "send_task"})
#: What reads a result: attributes, and methods (called).
RESULT_ATTRIBUTES = frozenset({"state", "status", "info", "result", "traceback", "date_done", "children"})
RESULT_READERS = frozenset({"get", "ready", "successful", "failed", "wait", "forget", "collect", "join"})

_ENV_READERS = ("environ.get", "getenv", "environ.setdefault")


def backend_scheme(url: str) -> str:
    """``redis`` for ``redis://h``, ``db+postgresql`` for ``db+postgresql://…``, ``django-db`` for
    ``django-db``: what is left of a backend URL once anything that may hold credentials is cut."""
    return url.split("://", 1)[0].strip().lower() if "://" in url else url.strip().lower()


def is_supported_backend(url: str) -> bool:
    scheme = backend_scheme(url)
    return scheme in _SUPPORTED_SCHEMES or (scheme.startswith("db+") and len(scheme) > 3)


def _from_broker(value: cst.BaseExpression) -> bool:
    """``CELERY_BROKER_URL``, ``broker_url``, ``settings.BROKER_URL``, ``app.conf.broker_url``."""
    dotted = dotted_name(value)
    return dotted is not None and dotted.rpartition(".")[2].upper().endswith("BROKER_URL")


def _env_default_at(call: cst.Call) -> int | None:
    """Index of the default argument of ``os.environ.get('X', default)`` and the like."""
    func = dotted_name(call.func) or ""
    if not func.endswith(_ENV_READERS):
        return None
    for i, arg in enumerate(call.args):
        if keyword_name(arg) == "default" or (i == 1 and arg.keyword is None and arg.star == ""):
            return i
    return None


def _backend_value(value: cst.BaseExpression, site: SettingSite, ctx: FileContext) -> cst.BaseExpression | None:
    """The new value (with ``--result-backend``), or None; reports what cannot stay."""
    wanted = ctx.options.result_backend if ctx.enabled("CFQ210") else None
    if isinstance(value, cst.Call):
        at = _env_default_at(value)
        if at is None:
            return None
        new_default = _backend_value(value.args[at].value, site, ctx)
        if new_default is None:
            return None
        args = list(value.args)
        args[at] = args[at].with_changes(value=new_default)
        return value.with_changes(args=args)
    if _from_broker(value):
        if wanted:
            return quoted_like(value, wanted)
        ctx.report(
            site.node, "CFQ211",
            f"{site.spelling} is the broker's URL, which is now {ctx.options.broker} and stores no results: give it "
            f"its own URL (one of {_CHOICES}), or run with --result-backend URL",
        )
        return None
    text = string_value(value)
    if text is None:
        return None
    if wanted:
        return quoted_like(value, wanted) if text != wanted else None
    if not is_supported_backend(text):
        # Only the scheme: the rest of a URL may hold credentials, which never go into reports.
        ctx.report(
            site.node, "CFQ207",
            f"{site.spelling}: {backend_scheme(text)!r} result backends are not supported by cfq_shim (it fails at "
            f"start-up); choose one of {_CHOICES}, or run with --result-backend URL",
        )
    return None


@setting_handler(order=30)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key != "result_backend":
        return None
    new_value = _backend_value(site.value, site, ctx)
    return SettingEdit(value=new_value) if new_value is not None else None


class ResultGetFixer(Fixer, order=50):
    rules = RULES

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        #: For each enclosing def/class: whether it is a task (``self`` there is the task).
        self.task_scopes: list[bool] = []
        #: ids of statements already reported: one finding per statement.
        self.reported: set[int] = set()


    def _makes_result(self, node: cst.Call) -> bool:
        """``AsyncResult(id)``, ``app.AsyncResult(id)``, ``task.AsyncResult(id)``."""
        func = node.func
        if self.ctx.library_name(func) == "celery.result.AsyncResult":
            return True
        return isinstance(func, cst.Attribute) and func.attr.value == "AsyncResult" and self.ctx.kind(func.value) in (APP, TASK)

    def _is_result(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.ctx.result_names
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in RESULT_METHODS:
                owner = self.ctx.kind(func.value)
                return (owner == TASK) or (owner == APP and func.attr.value == "send_task")
            return self._makes_result(node)
        return False

    def _report(self, node: cst.CSTNode, what: str) -> None:
        stack = self.ctx.statement_stack
        statement = id(stack[-1]) if stack else id(node)
        if statement in self.reported or has_result_backend(self.ctx):
            return
        self.reported.add(statement)
        self.ctx.report(
            node, "CFQ502",
            f"{what} needs a result backend, and none is configured: cfq_shim raises there; set result_backend "
            "(sqlite:///path on one machine, redis:// or d1:// across machines)",
        )

    # -- where ``self`` is a task ------------------------------------------------------------------
    def _defines_task(self, name: str, kinds: tuple[str, ...]) -> bool:
        if self.task_scopes:  # only module-level definitions are indexed
            return False
        prefix = f"{self.ctx.module}." if self.ctx.module else ""
        return self.ctx.resolver.kinds.get(prefix + name) in kinds

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        inherited = bool(self.task_scopes) and self.task_scopes[-1]
        self.task_scopes.append(inherited or self._defines_task(node.name.value, (TASK,)))

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self.task_scopes.pop()
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.task_scopes.append(self._defines_task(node.name.value, (TASK_CLASS,)))

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        self.task_scopes.pop()
        return updated_node

    # -- the reads ---------------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        if self._is_result(node.value):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.ctx.result_names.add(target.target.value)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if original_node.attr.value in RESULT_ATTRIBUTES and self._is_result(original_node.value):
            self._report(original_node, f".{original_node.attr.value}")
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in RESULT_READERS and self._is_result(func.value):
                self._report(original_node, f".{method}()")
            elif method == "update_state" and self._updates_a_task(func.value):
                self._report(original_node, "update_state()")
        if self._makes_result(original_node):
            self._report(original_node, "AsyncResult(...)")
        return updated_node

    def _updates_a_task(self, receiver: cst.BaseExpression) -> bool:
        if isinstance(receiver, cst.Name) and receiver.value == "self":
            return bool(self.task_scopes) and self.task_scopes[-1]
        return self.ctx.kind(receiver) == TASK or self.ctx.library_name(receiver) == "celery.current_task"
