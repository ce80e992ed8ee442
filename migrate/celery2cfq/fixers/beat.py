"""Periodic tasks (beat) are reported: the shim has no beat scheduler yet.

Schedules (``beat_schedule``, ``CELERY_BEAT_SCHEDULE``, ``add_periodic_task``) are kept as they are,
so nothing is lost, and each gets a finding (CFQ504): until the shim's beat lands, run them from
Cloudflare Cron Triggers or the platform's scheduler. ``django_celery_beat`` (the database
scheduler, its app in ``INSTALLED_APPS``, its imports) has no counterpart at all (CFQ503).
"""

from __future__ import annotations

import libcst as cst

from ._base import Example, FileContext, Fixer, Rule, dotted_name
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["BeatFixer", "handle_setting", "RULES"]

RULES = (
    Rule(
        code="CFQ503",
        name="django-celery-beat",
        title="`django_celery_beat` has no counterpart",
        description=(
            "Its database scheduler and models are Celery beat's. Keep the schedule data, and run the "
            "periodic tasks another way (Cloudflare Cron Triggers) until the shim's beat lands."
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
        title="A beat schedule: periodic tasks are not run by the shim yet",
        description=(
            "`beat_schedule` entries and `add_periodic_task` calls are kept unchanged (their `crontab` "
            "import is migrated). Schedule the tasks with Cloudflare Cron Triggers or your platform's "
            "scheduler meanwhile."
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


@setting_handler(order=50)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key == "beat_schedule":
        ctx.report(site.node, "CFQ504", f"{site.spelling}: cfq_shim does not run periodic tasks yet; schedule them another way")
    return None


class BeatFixer(Fixer, order=100):
    rules = RULES

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "add_periodic_task":
            self.ctx.report(original_node, "CFQ504", "add_periodic_task: cfq_shim does not run periodic tasks yet; schedule it another way")
        return updated_node

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString) -> cst.SimpleString:
        if "django_celery_beat" in original_node.value:
            self.ctx.report(original_node, "CFQ503", "django_celery_beat has no counterpart in cfq_shim")
        return updated_node

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if (dotted_name(alias.name) or "").split(".")[0] == "django_celery_beat":
                self.ctx.report(node, "CFQ503", "django_celery_beat has no counterpart in cfq_shim")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None and not node.relative and (dotted_name(node.module) or "").split(".")[0] == "django_celery_beat":
            self.ctx.report(node, "CFQ503", "django_celery_beat has no counterpart in cfq_shim")
