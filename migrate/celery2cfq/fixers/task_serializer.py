"""A task serializer other than JSON is reported (CFQ209): the shim refuses it when the app starts.

Cloudflare Queues messages are text, so ``cfq_shim`` sends JSON only and raises
``ImproperlyConfigured`` for ``task_serializer = 'pickle'`` (or ``'yaml'``, ``'msgpack'``) as soon as
the setting is applied. The rewrite cannot choose for the project: switching to JSON changes what
tasks receive (no datetimes, sets or objects). The setting is kept, with this finding. ``'auth'``
is message signing (CFQ507).
"""

from __future__ import annotations

from ._base import Example, FileContext, Rule, string_value
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["handle_setting", "RULES"]

RULES = (
    Rule(
        code="CFQ209",
        name="task-serializer",
        title="`task_serializer` other than JSON is refused by the shim",
        description=(
            "cfq_shim sends JSON only and raises `ImproperlyConfigured` for another `task_serializer` when the "
            "setting is applied. Set it to `'json'` (or remove it) and make task arguments JSON-serialisable: "
            "pass ids instead of objects, ISO strings instead of datetimes."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\napp.conf.task_serializer = 'pickle'\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\napp.conf.task_serializer = 'pickle'\n",
            ),
        ),
    ),
)


@setting_handler(order=65)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key != "task_serializer":
        return None
    value = string_value(site.value)
    if value is not None and value not in ("json", "auth"):
        ctx.report(
            site.node, "CFQ209",
            f"{site.spelling}={value!r}: cfq_shim refuses it at start-up (messages are JSON only); set 'json' and "
            "make task arguments JSON-serialisable",
        )
    return None
