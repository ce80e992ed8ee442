"""Registered tasks, Celery against the shim, on the same project code.

Each layout in tests/e2e/registration is a small Celery project of a shape real projects use:

- ``django_views``: Django; tasks that only the views (reached through the URLconf) or an app's ``ready()``
  (signals) import, next to autodiscovered ``tasks.py`` modules; once more with ``CELERY_SKIP_CHECKS``;
- ``django_second_app``: Django; ``@app.task`` on the app of ``project.tasks`` while the worker runs
  ``-A project_celery``, a second module that builds its own app from the settings (Celery's ``shared=True``);
- ``two_apps``: the worker's app ``include=`` a module that imports a second app's module;
- ``shared_only``: ``@shared_task`` only, found by ``autodiscover_tasks`` (``related_name``, ``force``, a
  callable, a package without a tasks module);
- ``include_imports``: ``include=`` and ``imports``;
- ``config_by_name``: ``config_from_object('celeryconfig')`` whose ``imports`` name the task modules.

For each, the real ``celery -A APP worker`` (Celery 5.7, ``memory://``) prints its banner, and so does the
real ``cfq-shim -A APP worker`` on a copy migrated by ``celery2cfq rewrite`` (with a ``celery`` package that
fails to import first on the path). Both banners list the registered tasks at ``-l info`` with the same
rule: names starting with ``celery.`` (Celery's built-in tasks: ``celery.chord_unlock``, ``celery.group``,
...) are left out, which is Celery's own filter for that list. The lists must be equal.
Reading the banner (instead of calling start-up functions by hand) means every start-up step each worker
really takes counts: Celery's loader imports, its Django fix-up's system checks, its app finalization.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
LAYOUTS = HERE / "registration"
WITHOUT_CELERY = HERE / "projects" / "without_celery"
BIN = Path(sys.executable).parent
#: A safety net: each worker is stopped as soon as it reports ready.
DEADLINE_SECONDS = 90.0
TASK_LINE = re.compile(r"^  \. (\S+)\s*$")
ISOLATED_VARIABLES = ("CELERY_BROKER_URL", "CFQ_SHIM_BROKER_URL", "DJANGO_SETTINGS_MODULE", "CELERY_SKIP_CHECKS",
                      "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_BASE_URL")


@dataclass(frozen=True)
class Layout:
    name: str
    app: str
    #: Tasks Celery must list, so a broken fixture cannot pass by listing nothing on both sides.
    celery_must_list: tuple[str, ...]
    #: Extra environment for both workers.
    env: tuple[tuple[str, str], ...] = ()
    #: Tasks Celery must not list (what the variant turns off).
    celery_must_not_list: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return "-".join([self.name, *(name for name, _ in self.env)])


LAYOUT_LIST = [
    Layout("django_views", "portal", ("mail.emails.send_welcome_email", "mail.digest", "mail.inbox.refresh_inbox",
                                      "activity.streams.push_activity", "billing.tasks.invoice")),
    # Without the checks, Celery does not import the views: the tasks only they import are not registered.
    Layout("django_views", "portal", ("activity.streams.push_activity", "billing.tasks.invoice"),
           env=(("CELERY_SKIP_CHECKS", "1"),), celery_must_not_list=("mail.emails.send_welcome_email",)),
    Layout("django_second_app", "project_celery", ("project.tasks.send_email", "project.tasks.sync_inbox")),
    Layout("two_apps", "reports.app", ("mailer.app.notify", "reports.jobs.build_report")),
    Layout("shared_only", "shop", ("shop.audit.jobs.audit_day", "shop.warehouse.tasks.restock", "orders.cancel")),
    Layout("include_imports", "proj", ("proj.tasks.add", "proj.extra.tasks.mul", "proj.nightly", "proj.celery.ping")),
    Layout("config_by_name", "tasks", ("jobs.cleanup.purge_old", "jobs.reports.weekly", "tasks.hello")),
]


def _environment(layout: Layout, pythonpath: list[Path], broker_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ISOLATED_VARIABLES}
    env.update(layout.env)
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    env["PYTHONUNBUFFERED"] = "1"
    env["CELERY_BROKER_URL"] = broker_url  # both read it before the project's own (amqp://...) value
    return env


def banner_tasks(argv: list[str], *, cwd: Path, env: dict[str, str]) -> list[str]:
    """Start a worker, read the task list of its banner, stop it once it reports ready."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(DEADLINE_SECONDS, process.kill)
    watchdog.start()
    output: list[str] = []
    tasks: list[str] | None = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.strip() == "[tasks]":
                tasks = []
            elif tasks is not None and TASK_LINE.match(line):
                tasks.append(TASK_LINE.match(line).group(1))  # type: ignore[union-attr]
            elif tasks is not None and line.rstrip().endswith(" ready."):
                break
    finally:
        watchdog.cancel()
        process.kill()
        process.wait(30)
    assert tasks is not None, f"{argv[:4]} printed no task list:\n{''.join(output)}"
    return sorted(tasks)


def celery_tasks(layout: Layout, root: Path) -> list[str]:
    return banner_tasks(
        [sys.executable, "-m", "celery", "-A", layout.app, "worker", "-P", "solo", "-l", "info",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=root, env=_environment(layout, [root], "memory://"),
    )


def shim_tasks(layout: Layout, root: Path) -> list[str]:
    migrate = subprocess.run([str(BIN / "celery2cfq"), "rewrite", "-q", str(root)], capture_output=True, text=True,
                             timeout=120)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    return banner_tasks(
        [str(BIN / "cfq-shim"), "-A", layout.app, "worker", "-P", "solo", "-l", "info"],
        cwd=root, env=_environment(layout, [WITHOUT_CELERY, root], f"sqlite:///{root}/queues.sqlite3"),
    )


@pytest.mark.parametrize("layout", LAYOUT_LIST, ids=[layout.id for layout in LAYOUT_LIST])
def test_the_shim_registers_what_celery_registers(layout, tmp_path):
    celery_root, shim_root = tmp_path / "celery", tmp_path / "shim"
    shutil.copytree(LAYOUTS / layout.name, celery_root)
    shutil.copytree(LAYOUTS / layout.name, shim_root)
    expected = celery_tasks(layout, celery_root)
    assert set(layout.celery_must_list) <= set(expected), expected
    assert not set(layout.celery_must_not_list) & set(expected), expected
    assert shim_tasks(layout, shim_root) == expected
