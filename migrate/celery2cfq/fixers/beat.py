"""Periodic tasks (beat): what the shim runs, and what stays a manual step.

``cfq-shim -A proj beat`` (or ``cfq-shim -A proj worker -B``) sends the entries of ``beat_schedule``
(Django's ``CELERY_BEAT_SCHEDULE``) and of ``add_periodic_task``, with ``crontab`` and ``schedule``
(timedelta or seconds) as Celery computes them; any number of beats may run, one sends. Schedules are
kept as they are (their imports are migrated), and each gets a finding (CFQ504) saying to start that
process where ``celery beat`` ran. A ``solar`` schedule is refused by the shim's beat: reported too.
``django_celery_beat`` (the database scheduler, its app in ``INSTALLED_APPS``, its imports) is read by
``cfq-shim beat -S django``: reported with that (CFQ503).
"""

from __future__ import annotations

import libcst as cst

from ._base import Example, FileContext, Fixer, Rule, dotted_name
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["BeatFixer", "handle_setting", "RULES"]

_RUN_BEAT = (
    "run `cfq-shim -A proj beat` (or `cfq-shim -A proj worker -B`) where `celery beat` ran; several beats may "
    "run, one sends each due time (docs/beat.md)"
)
_DJANGO_BEAT = (
    "run `cfq-shim -A proj beat -S django` (or `worker -B -S django`) where `celery beat` ran: it reads "
    "django_celery_beat's tables through Django, so the admin keeps editing the schedules; keep django-celery-beat "
    "installed and in INSTALLED_APPS (docs/beat.md)"
)

RULES = (
    Rule(
        code="CFQ503",
        name="django-celery-beat",
        title="`django_celery_beat`: start the shim's beat with `-S django`",
        description=(
            "Periodic tasks kept in the database and edited in the admin stay there: "
            + _DJANGO_BEAT + ". `CELERY_BEAT_SCHEDULER = 'django_celery_beat.schedulers:DatabaseScheduler'` is read "
            "as Celery reads it. What stays manual: starting that process in your deployment."
        ),
        examples=(
            Example(
                path="proj/settings.py",
                files=(("proj/celery.py", "import os\nfrom celery import Celery\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\napp = Celery('proj')\napp.config_from_object('django.conf:settings', namespace='CELERY')\n"),),
                before="INSTALLED_APPS = ['django_celery_beat']\nCELERY_BEAT_SCHEDULER = 'django_celery_beat.schedulers:DatabaseScheduler'\n",
                after="INSTALLED_APPS = ['django_celery_beat']\nCELERY_BEAT_SCHEDULER = 'django_celery_beat.schedulers:DatabaseScheduler'\n",
            ),
        ),
    ),
    Rule(
        code="CFQ504",
        name="beat-schedule",
        title="A beat schedule: start the shim's beat where `celery beat` ran",
        description=(
            "`beat_schedule` entries and `add_periodic_task` calls are kept unchanged (their `crontab`/`schedule` "
            "import is migrated), and cfq_shim runs them as Celery does: " + _RUN_BEAT + ". What stays manual: "
            "starting that process in your deployment (the deployment-file rules rewrite `celery beat` and "
            "`worker -B` commands they find), and replacing a `solar` schedule, which the shim's beat refuses, "
            "with a crontab at the local time."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\nfrom celery.schedules import crontab\n\napp = Celery('proj')\napp.conf.beat_schedule = {'nightly': {'task': 'proj.tasks.report', 'schedule': crontab(hour=3)}}\n",
                after="from cfq_shim import Celery\nfrom cfq_shim.schedules import crontab\n\napp = Celery('proj')\napp.conf.beat_schedule = {'nightly': {'task': 'proj.tasks.report', 'schedule': crontab(hour=3)}}\n",
            ),
        ),
    ),
)

_SCHEDULE_MESSAGE = _RUN_BEAT.replace("`", "")
_DJANGO_MESSAGE = _DJANGO_BEAT.replace("`", "")


@setting_handler(order=50)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key == "beat_schedule":
        ctx.report(site.node, "CFQ504", f"{site.spelling}: {_SCHEDULE_MESSAGE}")
    return None


class BeatFixer(Fixer, order=100):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "add_periodic_task":
            self.ctx.report(original_node, "CFQ504", f"add_periodic_task: {_SCHEDULE_MESSAGE}")
        elif self.ctx.library_name(func) == "celery.schedules.solar":
            self.ctx.report(
                original_node, "CFQ504", "solar(): cfq-shim beat refuses solar schedules; use a crontab at the local time"
            )
        return updated_node

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString) -> cst.SimpleString:
        if "django_celery_beat" in original_node.value:
            self.ctx.report(original_node, "CFQ503", f"django_celery_beat: {_DJANGO_MESSAGE}")
        return updated_node

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if (dotted_name(alias.name) or "").split(".")[0] == "django_celery_beat":
                self.ctx.report(node, "CFQ503", f"django_celery_beat: {_DJANGO_MESSAGE}")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None and not node.relative and (dotted_name(node.module) or "").split(".")[0] == "django_celery_beat":
            self.ctx.report(node, "CFQ503", f"django_celery_beat: {_DJANGO_MESSAGE}")
