"""The Django fix-up (cfq_shim/fixups/django.py), on a tiny real Django project written to tmp_path.

The project has Celery's documented Django layout: ``mysite/celery.py`` sets ``DJANGO_SETTINGS_MODULE``,
reads ``CELERY_*`` settings from ``django.conf:settings`` and calls ``autodiscover_tasks()``; the app
``library`` has a model, and its ``tasks`` module imports that model at the top, which needs
``django.setup()`` first. Everything that touches Django runs in subprocesses, so this test process never
sets Django up (other tests fake ``django`` modules)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("django")

DEADLINE_SECONDS = 60.0  # a safety net: every wait ends as soon as its condition holds
BIN = Path(sys.executable).parent


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A Django project with three books in a SQLite database, and the shim's queues in another file."""
    root = tmp_path / "project"
    write(root, {
        "mysite/__init__.py": """
            from .celery import app as celery_app

            __all__ = ("celery_app",)
        """,
        "mysite/settings.py": f"""
            SECRET_KEY = "test-only"
            INSTALLED_APPS = ["library"]
            DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {str(tmp_path / "db.sqlite3")!r}}}}}
            DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
            USE_TZ = True
            CELERY_BROKER_URL = {f"sqlite:///{tmp_path / 'queues.sqlite3'}"!r}
            CELERY_TASK_DEFAULT_QUEUE = "library"
            RESULTS_FILE = {str(tmp_path / "results.jsonl")!r}
        """,
        "mysite/celery.py": """
            import os

            from cfq_shim import Celery

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

            app = Celery("mysite")
            app.config_from_object("django.conf:settings", namespace="CELERY")
            app.autodiscover_tasks()
        """,
        "library/__init__.py": "",
        "library/models.py": """
            from django.db import models


            class Book(models.Model):
                title = models.CharField(max_length=100)
        """,
        "library/tasks.py": """
            import json
            import os

            from django.conf import settings
            from django.db import connection

            from cfq_shim import shared_task

            from .models import Book  # needs the app registry: django.setup() must have run


            @shared_task
            def count_books(marker):
                # The fix-up closes the thread's connection around every task: none is open yet.
                reused = connection.connection is not None
                titles = sorted(Book.objects.values_list("title", flat=True))
                with open(settings.RESULTS_FILE, "a") as out:
                    out.write(json.dumps({"marker": marker, "titles": titles, "connection_was_open": reused,
                                          "pid": os.getpid()}) + "\\n")
                return len(titles)
        """,
    })
    create_books = (
        "import django; django.setup(); "
        "from django.core.management import call_command; call_command('migrate', run_syncdb=True, verbosity=0); "
        "from library.models import Book; "
        "Book.objects.bulk_create([Book(title=t) for t in ('Emma', 'Dracula', 'Ulysses')])"
    )
    result = run_python(root, create_books)
    assert result.returncode == 0, result.stderr
    return root


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "CFQ_SHIM_BROKER_URL", "CELERY_BROKER_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_python(root: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
        env=environment(PYTHONPATH=str(root), DJANGO_SETTINGS_MODULE="mysite.settings", **env),
    )


def results(tmp_path: Path) -> list[dict]:
    path = tmp_path / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition, *, what: str, on_timeout=lambda: "") -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}. {on_timeout()}")
        time.sleep(0.05)


def cfq_shim(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "cfq-shim"), "-A", "mysite", *args], cwd=root, capture_output=True, text=True,
        timeout=DEADLINE_SECONDS, env=environment(),
    )


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_real_worker_runs_a_django_task_that_queries_a_model(project, tmp_path, start_method):
    # Given a Django project whose tasks module imports its models, and two calls sent as a view sends them
    sent = run_python(project, "import django; django.setup(); from library.tasks import count_books; "
                               "count_books.delay('first'); count_books.delay('second')")
    assert sent.returncode == 0, sent.stderr
    log = tmp_path / "worker.log"

    # When `cfq-shim -A mysite worker` runs them (the default prefork pool; a spawned child imports the
    # project again), started as a user starts it: DJANGO_SETTINGS_MODULE comes from mysite/celery.py,
    # nothing calls django.setup() but the shim
    with log.open("w") as out:
        worker = subprocess.Popen(
            [str(BIN / "cfq-shim"), "-A", "mysite", "worker", "-c", "1", "--start-method", start_method,
             "-l", "info"],
            cwd=project, stdout=out, stderr=subprocess.STDOUT, env=environment(),
        )
    try:
        def both_ran() -> bool:
            assert worker.poll() is None, log.read_text()
            return len(results(tmp_path)) == 2

        wait_for(both_ran, what="both tasks to run", on_timeout=log.read_text)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(DEADLINE_SECONDS) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    # Then each task read the books through the ORM, in a child process, on a connection of its own
    runs = sorted(results(tmp_path), key=lambda run: run["marker"])
    assert [run["marker"] for run in runs] == ["first", "second"]
    assert all(run["titles"] == ["Dracula", "Emma", "Ulysses"] for run in runs)
    assert not any(run["connection_was_open"] for run in runs)
    assert all(run["pid"] != worker.pid for run in runs)
    assert "succeeded" in log.read_text()
    # And the admin commands, which import the tasks too, load the project: the queue is empty
    inspected = cfq_shim(project, "inspect", "--json")
    assert inspected.returncode == 0, inspected.stderr
    [queue] = [q for q in json.loads(inspected.stdout)["queues"] if q["queue"] == "library"]
    assert (queue["ready"], queue["in_flight"], queue["dead_letters"]) == (0, 0, 0)


IN_PROCESS_CHECK = """
import json, sys
from django.apps import apps
import mysite
from mysite.celery import app
from cfq_shim.worker import Worker

ready_after_import = apps.ready
names = sorted(name for name in app.tasks if name.startswith("library."))
ready_after_tasks = apps.ready
app.conf.broker_url = "memory://"
from library.tasks import count_books
eager = count_books.apply(args=("eager",)).get()
from cfq_shim import signals
from django.db import transaction
published = []
signals.after_task_publish.connect(lambda **kw: published.append(kw["headers"]["id"]), weak=False)
with transaction.atomic():
    count_books.delay_on_commit("on-commit")
    sent_inside_transaction = len(published)
sent_after_commit = len(published)
worker = Worker(app, pool="threads", concurrency=1).start()
try:
    for marker in ("a", "b", "c"):
        count_books.delay(marker)
    worker.drain(timeout_seconds=30)
finally:
    worker.stop()
print(json.dumps({"ready_after_import": ready_after_import, "ready_after_tasks": ready_after_tasks,
                  "names": names, "eager": eager, "fixups": [type(f).__name__ for f in app._fixups],
                  "task_class": [cls.__name__ for cls in type(count_books).__mro__],
                  "sent_inside_transaction": sent_inside_transaction, "sent_after_commit": sent_after_commit}))
"""


def test_tasks_are_imported_after_django_setup_and_no_task_inherits_a_connection(project, tmp_path):
    # Given the project's app imported without django.setup(), then a worker thread (one slot, so each
    # task runs in the thread the previous one left)
    result = run_python(project, IN_PROCESS_CHECK)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Then Django was set up when the tasks were first needed, not when the app module was imported
    assert report["ready_after_import"] is False
    assert report["ready_after_tasks"] is True
    assert report["names"] == ["library.tasks.count_books"]
    assert report["fixups"] == ["DjangoFixup"]
    # And every task the worker ran started without the connection the previous task had opened
    runs = {run["marker"]: run for run in results(tmp_path)}
    assert set(runs) == {"eager", "on-commit", "a", "b", "c"}
    assert [runs[m]["connection_was_open"] for m in ("on-commit", "a", "b", "c")] == [False] * 4
    assert report["eager"] == 3
    # And tasks are DjangoTasks (Celery's Django task class): delay_on_commit sends after the commit
    assert "DjangoTask" in report["task_class"]
    assert (report["sent_inside_transaction"], report["sent_after_commit"]) == (0, 1)


def test_without_django_settings_module_the_shim_does_not_import_django(tmp_path):
    code = ("import sys; from cfq_shim import Celery; app = Celery('plain', broker='memory://'); "
            "app.autodiscover_tasks(['json']); app.tasks; "
            "print('django' in sys.modules, app._fixups)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            timeout=DEADLINE_SECONDS, env=environment())

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "[]"]


def test_a_project_django_cannot_set_up_is_a_clear_worker_error(project):
    # Given settings that name an app that does not exist
    (project / "mysite" / "broken_settings.py").write_text(
        "from mysite.settings import *  # noqa: F403\n\nINSTALLED_APPS = ['library', 'no_such_app']\n")

    result = subprocess.run(
        [str(BIN / "cfq-shim"), "-A", "mysite", "worker", "-P", "solo"], cwd=project, capture_output=True,
        text=True, timeout=DEADLINE_SECONDS, env=environment(DJANGO_SETTINGS_MODULE="mysite.broken_settings"),
    )

    assert result.returncode == 1
    assert "Django could not be set up (DJANGO_SETTINGS_MODULE='mysite.broken_settings')" in result.stderr
    assert "No module named 'no_such_app'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_view_the_worker_start_checks_cannot_import_is_a_clear_error(project):
    # Given a URLconf whose view module fails to import (Celery's worker imports it through Django's checks)
    (project / "mysite" / "urls.py").write_text("from library import views  # noqa: F401\nurlpatterns = []\n")
    (project / "library" / "views.py").write_text("raise RuntimeError('view module is broken')\n")
    (project / "mysite" / "url_settings.py").write_text(
        "from mysite.settings import *  # noqa: F403\n\nROOT_URLCONF = 'mysite.urls'\n")
    argv = [str(BIN / "cfq-shim"), "-A", "mysite", "worker", "-P", "solo"]

    result = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=DEADLINE_SECONDS,
                            env=environment(DJANGO_SETTINGS_MODULE="mysite.url_settings"))

    # Then the start stops with one line naming the checks, the cause and the way to skip them
    assert result.returncode == 1
    assert "Django's system checks, run as the worker starts (as Celery does), failed" in result.stderr
    assert "RuntimeError: view module is broken" in result.stderr
    assert "CELERY_SKIP_CHECKS=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_django_settings_module_without_django_warns_and_installs_nothing(monkeypatch):
    from cfq_shim import Celery
    from cfq_shim.exceptions import FixupWarning
    from cfq_shim.fixups import django as django_fixup

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(django_fixup.importlib.util, "find_spec",
                        lambda name, *args: None if name == "django" else real_find_spec(name, *args))
    app = Celery("nodjango", broker="memory://", set_as_current=False)

    with pytest.warns(FixupWarning, match="'mysite.settings'.*Django is not installed"):
        installed = django_fixup.fixup(app, environ={"DJANGO_SETTINGS_MODULE": "mysite.settings"})

    assert installed is None
    assert django_fixup.fixup(app, environ={}) is None


def test_the_fixup_makes_tasks_django_tasks_unless_the_app_chose_its_own_class():
    from cfq_shim import Celery, Task
    from cfq_shim.fixups import django as django_fixup

    class AuditedTask(Task):
        pass

    plain = Celery("plain", broker="memory://", set_as_current=False)
    chosen = Celery("chosen", broker="memory://", set_as_current=False, task_cls=AuditedTask)
    environ = {"DJANGO_SETTINGS_MODULE": "mysite.settings"}

    installed = [django_fixup.fixup(app, environ=environ) for app in (plain, chosen)]

    assert all(isinstance(fixup, django_fixup.DjangoFixup) for fixup in installed)
    assert plain.Task is django_fixup.DjangoTask
    assert chosen.Task is AuditedTask
