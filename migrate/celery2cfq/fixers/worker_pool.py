"""A greenlet worker pool in the configuration is reported (CFQ509): the shim's worker has none.

``worker_pool = 'gevent'`` (or ``'eventlet'``, or the ``celery.concurrency.gevent:TaskPool`` path)
runs hundreds of I/O-bound tasks at once in one process. ``cfq-shim worker`` has the ``prefork``,
``threads`` and ``solo`` pools and does not read ``worker_pool``: left as it is, the worker would
run as many tasks at once as there are CPUs, and code that relies on monkey-patching would run
unpatched. The nearest equivalent is ``-P threads`` with a high ``-c``. The setting is kept (a
rollback to Celery still works), with this finding. ``-P gevent`` on command lines is the
deployment-file rules' concern.
"""

from __future__ import annotations

from ._base import Example, FileContext, Rule, string_value
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["handle_setting", "RULES"]

RULES = (
    Rule(
        code="CFQ509",
        name="greenlet-pool",
        title="A gevent or eventlet worker pool has no equivalent in the shim's worker",
        description=(
            "`cfq-shim worker` runs tasks in `prefork`, `threads` or `solo` pools and does not read `worker_pool`. "
            "For I/O-bound tasks written for gevent/eventlet, start it with `-P threads -c N` (N the number of "
            "tasks to run at once, as the greenlet pool's concurrency was), and drop code that only the greenlet "
            "pool needed (monkey-patching)."
        ),
        examples=(
            Example(
                path="proj/celeryconfig.py",
                files=(("proj/celery.py", "from celery import Celery\n\napp = Celery('proj')\napp.config_from_object('proj.celeryconfig')\n"),),
                before="worker_pool = 'gevent'\nworker_concurrency = 500\n",
                after="worker_pool = 'gevent'\nworker_concurrency = 500\n",
            ),
        ),
    ),
)

_GREENLET_POOLS = ("gevent", "eventlet")


@setting_handler(order=70)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key != "worker_pool":
        return None
    value = string_value(site.value) or ""
    pool = next((name for name in _GREENLET_POOLS if name in value.lower()), None)
    if pool is not None:
        ctx.report(
            site.node, "CFQ509",
            f"{site.spelling}={value!r}: cfq-shim worker has no {pool} pool (prefork, threads, solo); for I/O-bound "
            f"tasks start it with -P threads -c N (N as this pool's concurrency) and drop the {pool} monkey-patching",
        )
    return None
