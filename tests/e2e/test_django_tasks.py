"""Django's task framework on cfq_shim: ``cfq_shim.django.tasks.CloudflareQueuesBackend``, with a real
Django project (tests/e2e/projects/django_tasks) and a real ``cfq-shim -A djproj worker`` process, once on
Django 6 (``django.tasks``) and once on Django 5.2 with the ``django-tasks`` backport (``django_tasks``).

Django 6 needs Python >= 3.12 and this project's environment may be older, so each run uses an
interpreter that has its framework: this one when it has it, else a virtualenv built once (cached under
``$CFQ_TEST_CACHE_DIR``, else ``~/.cache/celery2cfq-tests``, keyed by the interpreter, the requirements
and this repository's pyproject.toml) with the framework's requirements and this repository installed
editable: for Django 6 from a Python >= 3.12 found on PATH (``python3.13``, ``python3.12``) or in pyenv's
versions directory, for the backport from this interpreter. When none can be found or the install
fails, the tests skip with the reason on a developer's machine and fail under ``CI=true``.

Each check runs ``drive.py`` (the "web" process) in that interpreter: it enqueues, reads results and
prints JSON that the tests assert on.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from services import unavailable

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).parent / "projects" / "django_tasks"
WORKER_NAME = "djangotasks@localhost"
STANDALONE_WORKER_NAME = "standalone@localhost"


# -- an interpreter with django.tasks -------------------------------------------------------------------
def _version(python: str) -> tuple[int, int] | None:
    try:
        answer = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if answer.returncode != 0:  # e.g. a pyenv shim for a version that is not selected
        return None
    major, minor = answer.stdout.split()
    return int(major), int(minor)


def _pyenv_pythons() -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = []
    for directory in root.glob("*"):
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", directory.name)
        python = directory / "bin" / "python3"
        if match and python.exists():
            found.append((tuple(int(part) for part in match.groups()), str(python)))
    return [python for _version, python in sorted(found, reverse=True)]


def find_python_312() -> str | None:
    """A Python >= 3.12 (Django 6's minimum): PATH first, then pyenv's versions directory."""
    candidates = [shutil.which(name) for name in ("python3.13", "python3.12")] + _pyenv_pythons()
    for python in candidates:
        if python and (_version(python) or (0, 0)) >= (3, 12):
            return python
    return None


@dataclass(frozen=True)
class Framework:
    """One way a project gets Django's task framework, and what differs between them."""

    name: str
    requirements: tuple[str, ...]
    invalid_task: str  # the class path of Django's InvalidTask there
    needs_python_312: bool
    env: tuple[tuple[str, str], ...] = ()

    @property
    def invalid_task_name(self) -> str:
        return self.invalid_task.rpartition(".")[2]


FRAMEWORKS = {
    "django6": Framework("django6", ("django>=6,<7",), "django.tasks.exceptions.InvalidTask",
                         needs_python_312=True),
    "backport": Framework("backport", ("django>=5.2,<6", "django-tasks>=0.12,<0.13"),
                          "django_tasks.exceptions.InvalidTaskError", needs_python_312=False,
                          env=(("TASKS_FRAMEWORK", "backport"),)),
}


def _importable_here(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # no Django at all
        return False


def _cache_root() -> Path:
    configured = os.environ.get("CFQ_TEST_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "celery2cfq-tests"


def framework_python(framework: Framework) -> str:
    """The interpreter the checks run in (building its virtualenv on first use), or skip/fail."""
    if framework.name == "django6" and _importable_here("django.tasks"):
        return sys.executable
    if framework.name == "backport" and _importable_here("django_tasks") and not _importable_here("django.tasks"):
        return sys.executable
    if framework.needs_python_312:
        base = find_python_312()
        if base is None:
            unavailable("Django 6 (django.tasks) needs Python >= 3.12, and none was found on PATH "
                        "(python3.13, python3.12) or in pyenv's versions directory")
    else:
        base = sys.executable
    key_material = "\n".join([
        os.path.realpath(base), ".".join(map(str, _version(base) or ())), *framework.requirements, str(REPO),
        hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest(),
    ])
    key = f"{framework.name}-{hashlib.sha256(key_material.encode()).hexdigest()[:16]}"
    root = _cache_root()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / key
    python = venv / "bin" / "python"
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others wait and reuse it
        if (venv / ".complete").exists():
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)  # a build that was interrupted
        steps = [
            [base, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", *framework.requirements, "-e", str(REPO)],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                unavailable(f"could not build the {framework.name} environment ({' '.join(step[:4])} ...): "
                            f"{(done.stderr or done.stdout).strip()[-600:]}")
        (venv / ".complete").write_text(key_material + "\n")
    return str(python)


# -- the project and its worker -------------------------------------------------------------------------
class Project:
    def __init__(self, framework: Framework, python: str, root: Path) -> None:
        self.framework = framework
        self.python = python
        self.root = root
        shutil.copytree(PROJECT, root, dirs_exist_ok=True)
        self.env = {
            **os.environ, "WORK_DIR": str(root), "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "djproj.settings", **dict(framework.env),
        }
        self.env.pop("CFQ_SHIM_BROKER_URL", None)
        self.workers: list[subprocess.Popen] = []

    def start_worker(self, app: str, *flags: str, log_name: str) -> None:
        with open(self.root / log_name, "w") as log:
            self.workers.append(subprocess.Popen(
                [self.python, "-m", "cfq_shim", "-A", app, "worker", "-l", "info", *flags],
                cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            ))

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)

    def drive(self, code: str) -> Any:
        """Run ``code`` in the project's "web" process; return the JSON it leaves in ``out``."""
        done = subprocess.run(
            [self.python, "drive.py", code], cwd=self.root, env=self.env, capture_output=True, text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:] + self.worker_log()[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def worker_log(self, log_name: str = "worker.log") -> str:
        path = self.root / log_name
        return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    framework = FRAMEWORKS[request.param]
    project = Project(framework, framework_python(framework), tmp_path_factory.mktemp(f"django_tasks_{framework.name}"))
    project.start_worker("djproj", "-c", "2", "-Q", "celery,emails", "-n", WORKER_NAME, log_name="worker.log")
    project.start_worker("cfq_shim.django.app", "-c", "1", "-Q", "standalone", "-n", STANDALONE_WORKER_NAME,
                         log_name="standalone-worker.log")
    try:
        yield project
    finally:
        project.stop_workers()


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the checks -----------------------------------------------------------------------------------------
def test_an_enqueued_task_runs_on_the_worker_and_reads_back_successful(project: Project) -> None:
    # Given a Django @task, When it is enqueued and the worker runs it
    out = project.drive(
        "from greetings.tasks import add\n"
        "result = add.enqueue(2, y=3)\n"
        "first = describe(result)\n"
        "out = {'first': first, 'final': describe(wait(result)), 'by_task': describe(add.get_result(result.id))}"
    )
    first, final = out["first"], out["final"]
    # Then enqueue() answered READY at once, and get_result() shows what the worker did
    assert first["status"] == "READY" and first["return_value_error"] == "Task has not finished yet"
    assert final["status"] == "SUCCESSFUL" and final["return_value"] == 5
    assert (final["task"], final["args"], final["kwargs"], final["backend"]) == ("greetings.tasks.add", [2], {"y": 3}, "default")
    assert final["worker_ids"] == [WORKER_NAME] and final["attempts"] == 1
    assert _moment(final["enqueued_at"]) <= _moment(final["started_at"]) <= _moment(final["finished_at"])
    assert final["last_attempted_at"] == final["started_at"]
    assert out["by_task"] == final  # Task.get_result() checks the result belongs to this task
    # And Django's signals were sent in the worker, with this backend as the sender
    runs = (project.root / "runs.txt").read_text().splitlines()
    assert f"started {final['id']} RUNNING CloudflareQueuesBackend" in runs
    assert f"finished {final['id']} SUCCESSFUL CloudflareQueuesBackend" in runs
    # And the worker ran it under the Django task's module path
    assert f"greetings.tasks.add[{final['id']}] succeeded" in project.worker_log()


def test_a_failing_task_reads_back_failed_with_its_error(project: Project) -> None:
    out = project.drive("from greetings.tasks import fail\nout = describe(wait(fail.enqueue('no such greeting')))")
    assert out["status"] == "FAILED" and out["return_value_error"] == "Task failed"
    [error] = out["errors"]
    assert error["exception_class_path"] == "builtins.LookupError"
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert error["traceback"].rstrip().endswith("LookupError: no such greeting")
    assert 'greetings/tasks.py", line' in error["traceback"]
    runs = (project.root / "runs.txt").read_text().splitlines()
    assert f"finished {out['id']} FAILED CloudflareQueuesBackend" in runs


def test_context_async_functions_and_named_queues(project: Project) -> None:
    out = project.drive(
        "from greetings.tasks import whoami, double, send_email\n"
        "results = [whoami.using(queue_name='emails').enqueue(label='me'), double.enqueue(21),\n"
        "           send_email.enqueue('ada@example.com')]\n"
        "out = [describe(wait(result)) for result in results]"
    )
    whoami, double, email = out
    # takes_context: the function gets Django's TaskContext: this result's id, the attempt, and the task as
    # it was enqueued (using(queue_name=...) carried to the worker)
    assert whoami["return_value"] == {"label": "me", "id": whoami["id"], "attempt": 1, "queue_name": "emails"}
    # an async function runs through Task.call() (supports_async_task)
    assert double["status"] == "SUCCESSFUL" and double["return_value"] == 42
    # queue_name="emails" is the cfq_shim queue "emails" (the worker consumes it with -Q celery,emails);
    # the tuple it returned comes back as a list, as Django normalises return values to JSON
    assert email["queue_name"] == "emails" and email["return_value"] == ["sent", "ada@example.com"]
    assert f"greetings.tasks.send_email[{email['id']}] succeeded" in project.worker_log()


def test_outcomes_match_djangos_immediate_backend(project: Project) -> None:
    """The same calls through Django's ImmediateBackend (in this process) and through the worker give the
    same status, return value (JSON-normalised), errors, arguments, attempts and context."""
    out = project.drive(
        "from greetings.tasks import add, fail, whoami, double, send_email, unjsonable\n"
        "calls = [(add, (2,), {'y': 3}), (fail, ('nope',), {}), (whoami, (), {'label': 'me'}), (double, (21,), {}),\n"
        "         (send_email, ('ada@example.com',), {}), (unjsonable, (), {})]\n"
        "def outcome(result):\n"
        "    described = describe(result)\n"
        "    value = described.get('return_value')\n"
        "    if isinstance(value, dict) and 'id' in value:\n"
        "        value = {**value, 'id': value['id'] == result.id}  # the context's id is the result's own\n"
        "    return {'status': described['status'], 'value': value, 'error': described.get('return_value_error'),\n"
        "            'errors': [(e['exception_class_path'], e['traceback'].strip().splitlines()[-1]) for e in described['errors']],\n"
        "            'args': described['args'], 'kwargs': described['kwargs'], 'attempts': described['attempts'],\n"
        "            'queue_name': described['queue_name'], 'workers': len(described['worker_ids'])}\n"
        "immediate = [outcome(task.using(backend='immediate').enqueue(*args, **kwargs)) for task, args, kwargs in calls]\n"
        "sent = [task.enqueue(*args, **kwargs) for task, args, kwargs in calls]\n"
        "out = {'immediate': immediate, 'worker': [outcome(wait(result)) for result in sent]}"
    )
    assert out["worker"] == out["immediate"]
    statuses = [outcome["status"] for outcome in out["worker"]]
    assert statuses == ["SUCCESSFUL", "FAILED", "SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL", "FAILED"]
    assert out["worker"][5]["errors"] == [["builtins.TypeError", "TypeError: Unsupported type: <class 'set'>"]]


def test_the_async_api(project: Project) -> None:
    # aenqueue(), arefresh() and Task.aget_result() (Django's defaults over enqueue()/get_result())
    out = project.drive(
        "import asyncio, time\n"
        "from greetings.tasks import double\n"
        "async def main():\n"
        "    result = await double.aenqueue(5)\n"
        "    deadline = time.monotonic() + 60\n"
        "    while not result.is_finished and time.monotonic() < deadline:\n"
        "        await asyncio.sleep(0.05)\n"
        "        await result.arefresh()\n"
        "    return [describe(result), describe(await double.aget_result(result.id))]\n"
        "out = asyncio.run(main())"
    )
    refreshed, read_again = out
    assert refreshed["status"] == "SUCCESSFUL" and refreshed["return_value"] == 10
    assert read_again == refreshed


def test_a_running_task_reads_back_running(project: Project) -> None:
    out = project.drive(
        "import time\n"
        "from pathlib import Path\n"
        "from greetings.tasks import gated\n"
        "result = gated.enqueue('gate-running')\n"
        "deadline = time.monotonic() + 60\n"
        "while result.status != 'RUNNING' and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "    result.refresh()\n"
        "running = describe(result)\n"
        "(Path(__import__('os').environ['WORK_DIR']) / 'gate-running').touch()\n"
        "out = {'running': running, 'final': describe(wait(result))}"
    )
    running, final = out["running"], out["final"]
    assert running["status"] == "RUNNING" and running["is_finished"] is False
    assert running["started_at"] is not None and running["finished_at"] is None
    assert running["worker_ids"] == [WORKER_NAME]
    assert final["status"] == "SUCCESSFUL" and final["return_value"] == "gate-running"


def test_run_after_defers_the_task(project: Project) -> None:
    out = project.drive(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from greetings.tasks import add\n"
        "run_after = timezone.now() + timedelta(seconds=3)\n"
        "result = add.using(run_after=run_after).enqueue(1, 1)\n"
        "out = {'run_after': run_after.isoformat(), 'first': describe(result), 'final': describe(wait(result))}"
    )
    final = out["final"]
    assert out["first"]["status"] == "READY"
    assert final["status"] == "SUCCESSFUL" and final["return_value"] == 2
    # The worker did not start it before run_after (a lower bound only: nothing here measures speed)
    assert _moment(final["started_at"]) >= _moment(out["run_after"])


def test_a_project_without_its_own_app_uses_the_ready_made_one(project: Project) -> None:
    # Given TASKS["standalone"] sending through cfq_shim.django.app (configured from the CELERY_* settings)
    # and a worker started as `cfq-shim -A cfq_shim.django.app worker -Q standalone`
    out = project.drive(
        "from greetings.tasks import add\n"
        "standalone = add.using(backend='standalone', queue_name='standalone')\n"
        "out = describe(wait(standalone.enqueue(20, 22)))"
    )
    # Then that worker (which imported greetings.tasks through autodiscovery) ran it
    assert out["status"] == "SUCCESSFUL" and out["return_value"] == 42
    assert out["backend"] == "standalone" and out["worker_ids"] == [STANDALONE_WORKER_NAME]
    assert f"greetings.tasks.add[{out['id']}] succeeded" in project.worker_log("standalone-worker.log")


def test_priorities_are_refused_by_django(project: Project) -> None:
    out = project.drive(
        "from cfq_shim.django.framework import task, task_backends\n"
        "from greetings.tasks import add\n"
        "errors = []\n"
        "for make in (lambda: add.using(priority=5), lambda: task(priority=1)(add.func)):\n"
        "    try:\n"
        "        make()\n"
        "    except Exception as exc:\n"
        "        errors.append([type(exc).__name__, str(exc)])\n"
        "out = {'errors': errors, 'supports_priority': task_backends['default'].supports_priority}"
    )
    refused = [project.framework.invalid_task_name, "Backend does not support setting priority of tasks."]
    assert out == {"errors": [refused, refused], "supports_priority": False}


def test_results_need_a_result_backend(project: Project) -> None:
    out = project.drive(
        "from cfq_shim.django.framework import task_backends\n"
        "from greetings.tasks import add\n"
        "on_app_without_results = add.using(backend='noresults')\n"
        "result = on_app_without_results.enqueue(1, 2)\n"
        "try:\n"
        "    on_app_without_results.get_result(result.id)\n"
        "except NotImplementedError as exc:\n"
        "    error = str(exc)\n"
        "try:\n"
        "    task_backends['default'].get_result('no-such-id')\n"
        "except Exception as exc:\n"
        "    missing = [type(exc).__name__, str(exc)]\n"
        "out = {'with': task_backends['default'].supports_get_result,\n"
        "       'without': task_backends['noresults'].supports_get_result,\n"
        "       'defer': task_backends['default'].supports_defer,\n"
        "       'async': task_backends['default'].supports_async_task,\n"
        "       'status': result.status, 'error': error, 'missing': missing}"
    )
    assert (out["with"], out["without"], out["defer"], out["async"]) == (True, False, True, True)
    assert out["status"] == "READY"  # enqueue() works without a result backend; reading results does not
    assert "no result_backend" in out["error"] and "noresults" in out["error"]
    assert out["missing"] == ["TaskResultDoesNotExist", "no-such-id"]


def test_a_task_the_worker_could_not_find_is_refused_at_enqueue(project: Project) -> None:
    out = project.drive("from greetings.tasks import shout\nout = shout.enqueue('hi')")
    assert out == {"error": [
        project.framework.invalid_task,
        "Task 'greetings.tasks._shout' cannot be found at its module path, where the worker looks it up: "
        "decorate the module-level function with @task (so its name is the Task), not a copy of it",
    ]}


def test_a_message_over_the_size_limit_is_refused_and_leaves_no_record(project: Project) -> None:
    out = project.drive(
        "import os, re\n"
        "from cfq_shim.results import open_backend\n"
        "from cfq_shim.django.tasks import RECORD_KIND\n"
        "from greetings.tasks import add\n"
        "try:\n"
        "    add.enqueue('x' * 200_000, 1)\n"
        "except Exception as exc:\n"
        "    error = [type(exc).__name__, str(exc)]\n"
        "task_id = re.search(r'\\(id ([0-9a-f-]+)\\)', error[1]).group(1)\n"
        "store = open_backend('sqlite:///' + os.environ['WORK_DIR'] + '/results.sqlite3')\n"
        "out = {'error': error, 'record': store.get_record(RECORD_KIND, task_id)}"
    )
    kind, message = out["error"]
    assert kind == "EncodeError"
    assert message.startswith("Cannot send task 'greetings.tasks.add' (id ")
    assert "over the 127900-byte limit of a queue message" in message
    assert out["record"] is None  # the record written before the send was removed: nothing half-written


def test_without_app_in_options_or_in_the_process_enqueue_names_the_fix_and_sends_nothing(project: Project) -> None:
    # Before, enqueue() sent through the unconfigured default app, to .cfq-shim/queues.sqlite3 in the
    # working directory, which no worker of the project reads, and returned READY.
    out = project.drive(
        "import os, subprocess, sys\n"
        "script = ('import django; django.setup()\\n'\n"
        "          'from greetings.tasks import add\\n'\n"
        "          'try:\\n    add.enqueue(1, 2)\\n'\n"
        "          'except Exception as exc:\\n    print(type(exc).__name__, exc)')\n"
        "env = dict(os.environ, DJANGO_SETTINGS_MODULE='noapp_settings')\n"
        "done = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True, timeout=120)\n"
        "out = {'stdout': done.stdout, 'stderr': done.stderr[-2000:], 'store': os.path.exists('.cfq-shim')}"
    )
    assert out["stdout"].startswith("InvalidTaskBackend"), out
    assert "TASKS['default'] has no OPTIONS['APP'] and this process has created no cfq_shim app" in out["stdout"]
    assert "'cfq_shim.django.app:app'" in out["stdout"]
    assert out["store"] is False


def test_configuration_errors_are_named(project: Project) -> None:
    out = project.drive(
        "from cfq_shim.django.framework import InvalidTaskBackend\n"
        "from cfq_shim.django.tasks import CloudflareQueuesBackend\n"
        "missing = CloudflareQueuesBackend('broken', {'OPTIONS': {'APP': 'no_such_module:app'}})\n"
        "try:\n"
        "    CloudflareQueuesBackend('typo', {'OPTIONS': {'APPS': 'djproj.celery:app'}})\n"
        "except InvalidTaskBackend as exc:\n"
        "    typo = str(exc)\n"
        "out = {'check': [[error.id, error.msg] for error in missing.check()], 'typo': typo}"
    )
    [[code, message]] = out["check"]
    assert code == "cfq_shim.E001"
    assert "TASKS['broken']['OPTIONS']['APP'] = 'no_such_module:app' cannot be imported" in message
    assert "unknown keys ['APPS']" in out["typo"]
