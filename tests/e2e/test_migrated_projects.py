"""End to end, as a user lives it: a Celery project, migrated by ``celery2cfq rewrite``, run by ``cfq-shim``.

Four small Celery projects of the usual shapes live in tests/e2e/projects:
- ``shop``: a package with a ``celery`` module whose broker comes from ``CELERY_BROKER_URL`` with a
  ``redis://`` default; ``@app.task`` and ``@shared_task``; ``bind`` + ``self.retry(exc=...)``;
  ``autoretry_for``; ``countdown`` and ``eta``; a chosen ``task_id`` and a custom header read from
  ``self.request``; a ``task_failure`` handler; ``.delay()`` and ``.apply_async()``.
- ``newsletter``: a literal ``amqp://`` broker with a password in a pre-4.0 ``celeryconfig`` module read by
  ``config_from_object``, with ``CELERY_ROUTES`` to a second queue; a ``Task`` subclass with hooks as
  ``base=``; an options alias (``retrying = shared_task(...)``); ``self.retry()`` until
  ``MaxRetriesExceededError``; ``Ignore``; ``expires`` in the past (revoked).
- ``bookshop``: Django: ``config_from_object("django.conf:settings", namespace="CELERY")``,
  ``autodiscover_tasks()``, a tasks module that imports its models.
- ``webapp``: Flask's documented pattern: a ``Task`` subclass as ``task_cls`` that opens the Flask app
  context, ``config_from_object(app.config["CELERY"])``, ``set_default()``, ``-A make_celery``.
Their tasks write their side effects (each run with its retry count, each result, hook, failure and
revocation) as JSON lines to ``E2E_EVENTS_FILE`` (tests/e2e/projects/support/e2e_events.py).

1. Under real Celery 5.7 (a worker thread on ``memory://``, tests/e2e/projects/run_under_celery.py) a
   project records what Celery does.
2. A copy is migrated with the real ``celery2cfq`` CLI.
3. The migrated copy sends the same calls and a real ``cfq-shim -A ... worker`` process runs them, on the
   embedded store and on the Cloudflare path (the ``cfq-shim emulator`` stand-in and the official SDK).
   The side effects must equal Celery's, and every failure Celery recorded must be in the dead-letter queue.
Fast tests check the codemod's output on the same projects, eager mode before and after migration, and
that every option docs/migration-guide.md uses exists in the CLI's help.

Everything here runs in subprocesses, talks only to 127.0.0.1, and waits on conditions with deadlines."""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PROJECTS = Path(__file__).parent / "projects"
SUPPORT = PROJECTS / "support"
#: A ``celery`` package that fails to import: migrated code runs with it first on the path.
WITHOUT_CELERY = PROJECTS / "without_celery"
CELERY_RUNNER = PROJECTS / "run_under_celery.py"
EAGER_RUNNER = PROJECTS / "run_eager.py"
BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 90.0
POLL_SECONDS = 0.1
#: Recognisable, so the test can prove it never reaches a log.
DUMMY_TOKEN = "e2e-dummy-token-never-printed-4b1d"
ACCOUNT = "0123456789abcdef0123456789abcdef"
TERMINAL_EVENTS = ("result", "failed", "revoked")
#: Variables the project or the shim read; the tests set them explicitly.
ISOLATED_VARIABLES = (
    "CELERY_BROKER_URL",
    "CFQ_SHIM_BROKER_URL",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_BASE_URL",
    "CFQ_SHIM_QUEUE_PREFIX",
    "E2E_EVENTS_FILE",
    "DJANGO_SETTINGS_MODULE",
)


@dataclasses.dataclass(frozen=True)
class Project:
    package: str
    #: The app as ``module:attribute``, for Celery.
    celery_app: str
    #: What a user passes to ``cfq-shim -A``.
    shim_app: str
    #: ``module:function`` that sends the calls and returns their keys.
    orders: str
    #: What the project's own entry points (manage.py, wsgi.py) put in the environment.
    env: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> Path:
        return PROJECTS / self.package


SHOP = Project("shop", celery_app="shop.celery:app", shim_app="shop", orders="shop.orders:place_orders")
NEWSLETTER = Project("newsletter", celery_app="newsletter.app:app", shim_app="newsletter.app",
                     orders="newsletter.sender:place_orders")
BOOKSHOP = Project("bookshop", celery_app="config.celery:app", shim_app="config",
                   orders="orders.views:place_orders", env=(("DJANGO_SETTINGS_MODULE", "config.settings"),))
WEBAPP = Project("webapp", celery_app="make_celery:celery_app", shim_app="make_celery",
                 orders="webapp.views:place_orders")


def script(name: str) -> str:
    """The console script installed next to this interpreter, as a user would run it."""
    path = BIN / name
    assert path.exists(), f"console script {name} is not installed next to {sys.executable}"
    return str(path)


def base_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ISOLATED_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def terminal_keys(path: Path) -> set[str]:
    return {event["key"] for event in read_events(path) if event["event"] in TERMINAL_EVENTS}


def events_by_key(events: list[dict]) -> dict[str, list[dict]]:
    """Each call's own events in the order they happened; calls interleave differently in each run."""
    grouped: dict[str, list[dict]] = {}
    for event in events:
        fields = {name: value for name, value in event.items() if name != "key"}
        grouped.setdefault(event["key"], []).append(fields)
    return grouped


def wait_for(condition, *, what: str, timeout_seconds: float = DEADLINE_SECONDS, on_timeout=lambda: ""):
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_seconds}s waiting for {what}. {on_timeout()}")
        time.sleep(POLL_SECONDS)


def imported_modules(path: Path) -> set[str]:
    """Top-level module names a file imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def snapshot(tree: Path) -> dict[str, bytes]:
    return {str(path.relative_to(tree)): path.read_bytes() for path in sorted(tree.rglob("*.py"))}


def copy_project(project: Project, destination: Path) -> Path:
    shutil.copytree(project.source, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def python_path(project_dir: Path, *, celery_installed: bool = True) -> str:
    """The project's own directory first (as the user's checkout), then the tests' event recorder.

    ``celery_installed=False`` hides Celery, as on a machine where only celery2cfq is installed."""
    hide = [] if celery_installed else [str(WITHOUT_CELERY)]
    paths = [*hide, str(project_dir), str(SUPPORT), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(filter(None, paths))


def rewrite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [script("celery2cfq"), "rewrite", *args],
        capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=base_env(),
    )


def migrate(project: Project, destination: Path, *options: str) -> Path:
    """Copies the project and migrates it in place with the real CLI; asserts the run was clean."""
    copy = copy_project(project, destination)
    result = rewrite(*options, str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    return copy


def assert_imports_cfq_shim_not_celery(project_dir: Path, *files: str) -> None:
    for name in files:
        modules = imported_modules(project_dir / name)
        assert "cfq_shim" in modules, name
        assert "celery" not in modules, name


# --- Celery: run once per project and module, compared with every migrated run ---------------------------


@pytest.fixture(scope="module")
def celery_events(tmp_path_factory):
    """``celery_events(project)``: the events the project records under real Celery (run once each)."""
    cache: dict[str, list[dict]] = {}

    def run(project: Project) -> list[dict]:
        if project.package not in cache:
            workdir = tmp_path_factory.mktemp(f"celery-{project.package}")
            copy = copy_project(project, workdir / "project")
            events_file = workdir / "events.jsonl"
            result = subprocess.run(
                [sys.executable, str(CELERY_RUNNER), project.celery_app, project.orders, str(DEADLINE_SECONDS)],
                capture_output=True, text=True, timeout=DEADLINE_SECONDS + 30, cwd=copy,
                env=base_env(E2E_EVENTS_FILE=str(events_file), PYTHONPATH=python_path(copy), **dict(project.env)),
            )
            assert result.returncode == 0, result.stderr[-4000:]
            events = read_events(events_file)
            # The reference must show what the comparison is about: retries, results and failures.
            assert any(event["event"] == "run" and event["retries"] > 0 for event in events)
            assert any(event["event"] == "result" for event in events)
            assert any(event["event"] == "failed" for event in events)
            cache[project.package] = events
        return cache[project.package]

    return run


# --- the shim side ---------------------------------------------------------------------------------------


class MigratedRun:
    """A migrated copy of a project, its environment, and the processes started against them."""

    def __init__(self, project: Project, copy: Path, workdir: Path, **env: str) -> None:
        self.project = project
        self.copy = copy
        self.events_file = workdir / "events.jsonl"
        self.workdir = workdir
        self.worker_log = workdir / "worker.log"
        self.env = base_env(
            PYTHONPATH=python_path(copy, celery_installed=False),
            E2E_EVENTS_FILE=str(self.events_file),
            **dict(project.env),
            **env,
        )

    def shim(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [script("cfq-shim"), "-A", self.project.shim_app, *args],
            capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=self.env, cwd=self.copy,
        )
        assert result.returncode == 0, f"cfq-shim {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def place_orders(self, orders: str | None = None) -> set[str]:
        """Runs the project's orders function (``module:function``) in a new process; returns its keys."""
        module, function = (orders or self.project.orders).split(":")
        # As in the project's web process: the app is made first (Flask's create_app); a Django view
        # runs after django.setup(), which manage.py and the WSGI handler call.
        setup = "import django; django.setup(); " if "DJANGO_SETTINGS_MODULE" in self.env else ""
        app_module = self.project.celery_app.split(":")[0]
        code = (f"import json, {app_module}; {setup}from {module} import {function}; "
                f"print(json.dumps({function}()))")
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=self.env, cwd=self.copy,
        )
        assert result.returncode == 0, result.stderr
        return set(json.loads(result.stdout.strip().splitlines()[-1]))

    def inspect(self) -> list[dict]:
        """``cfq-shim inspect --json``: one entry per queue the app knows, with dead-letter samples."""
        return json.loads(self.shim("inspect", "--json", "--dead-letters", "50").stdout)["queues"]

    @contextmanager
    def worker(self, *flags: str, log_name: str = "worker.log") -> Iterator[subprocess.Popen]:
        """A real worker process; stopped with SIGTERM (warm shutdown) when the block ends."""
        self.worker_log = self.workdir / log_name
        with self.worker_log.open("w") as log:
            process = subprocess.Popen(
                [script("cfq-shim"), "-A", self.project.shim_app, "worker", "-l", "info", *flags],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.copy,
            )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self) -> str:
        return self.worker_log.read_text()[-4000:] if self.worker_log.exists() else ""


def expected_dead_letter_reason(exc_type: str) -> str:
    # docs/worker.md, "Outcomes and settlements": retries used up by self.retry() have their own reason.
    return "max-retries-exceeded" if exc_type == "MaxRetriesExceededError" else "failed"


def drain_and_compare(run: MigratedRun, celery_events: list[dict], *worker_flags: str) -> list[dict]:
    """Sends the orders, runs a worker until all is settled, stops it, and compares with Celery.

    Returns the queues' final figures (``cfq-shim inspect --json``)."""
    with run.worker(*worker_flags) as worker:
        keys = run.place_orders()

        def every_call_ended():
            assert worker.poll() is None, f"the worker exited with {worker.returncode}: {run.log_tail()}"
            return keys <= terminal_keys(run.events_file)

        wait_for(every_call_ended, what="every call to end",
                 on_timeout=lambda: f"events: {read_events(run.events_file)}\nlog: {run.log_tail()}")

        def settled():
            queues = run.inspect()
            busy = [q for q in queues if q["ready"] or q["delayed"] or q["in_flight"]]
            return None if busy else queues

        queues = wait_for(settled, what="the queues to be drained", on_timeout=run.log_tail)
        assert worker.poll() is None, f"worker exited early: {run.log_tail()}"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=DEADLINE_SECONDS) == 0, run.log_tail()

    # Same calls, same retry counts, same results, hooks and failures (exception types), call by call.
    assert events_by_key(read_events(run.events_file)) == events_by_key(celery_events)
    # Every failure Celery recorded is a dead letter with its task and exception type, and nothing else is.
    celery_failures = sorted(
        (event["task"], event["exc"], expected_dead_letter_reason(event["exc"]))
        for event in celery_events if event["event"] == "failed"
    )
    dead_letters = sorted(
        (record["task"], record["exc_type"], record["reason"])
        for queue in queues for record in queue["dead_letter_samples"]
    )
    assert dead_letters == celery_failures
    assert sum(queue["dead_letters"] for queue in queues) == len(celery_failures)
    return queues


# --- the codemod alone (fast) ----------------------------------------------------------------------------


def test_rewrite_migrates_an_env_broker_project_and_a_second_run_changes_nothing(tmp_path):
    project = copy_project(SHOP, tmp_path / "shop")
    original = snapshot(project)

    first = rewrite(str(project))

    assert first.returncode == 0, first.stdout + first.stderr
    migrated = snapshot(project)
    assert migrated != original
    assert_imports_cfq_shim_not_celery(project, "shop/celery.py", "shop/tasks.py")
    # The redis default is gone: the credentials-free Cloudflare URL takes its place, and the env read stays.
    app_module = (project / "shop/celery.py").read_text()
    assert "redis://" not in app_module
    assert 'os.environ.get("CELERY_BROKER_URL", "cloudflare://")' in app_module
    # The environment-read broker is reported, so the user knows what to set.
    assert "CFQ202" in first.stdout + first.stderr
    # Files the codemod has no business with are byte for byte the same.
    assert migrated["shop/orders.py"] == original["shop/orders.py"]

    check = rewrite("--check", str(project))
    again = rewrite(str(project))

    assert check.returncode == 0, check.stdout + check.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(project) == migrated


def test_diff_and_check_write_nothing_and_exit_1(tmp_path):
    project = copy_project(SHOP, tmp_path / "shop")
    original = snapshot(project)

    result = rewrite("--diff", str(project))
    check = rewrite("--check", str(project))

    assert result.returncode == 1, result.stdout + result.stderr
    assert check.returncode == 1, check.stdout + check.stderr
    assert "+from cfq_shim import Celery" in result.stdout
    assert "-from celery import Celery" in result.stdout
    assert snapshot(project) == original


def test_rewrite_with_broker_option_upgrades_old_settings_and_drops_the_password(tmp_path):
    broker = f"sqlite:///{tmp_path / 'q.db'}"
    project = copy_project(NEWSLETTER, tmp_path / "newsletter")

    first = rewrite("--broker", broker, str(project))

    assert first.returncode == 0, first.stdout + first.stderr
    assert_imports_cfq_shim_not_celery(project, "newsletter/app.py", "newsletter/tasks.py")
    config = {}
    exec((project / "newsletter/celeryconfig.py").read_text(), config)
    assert config["broker_url"] == broker
    assert config["task_default_queue"] == "mail"
    assert config["task_acks_late"] is True
    assert config["broker_visibility_timeout"] == 120
    assert config["task_routes"] == {"newsletter.tasks.render": {"queue": "templates"}}
    assert not [name for name in config if name.isupper()], "pre-4.0 names left"
    # The amqp password is nowhere: not in the code, not in the report.
    assert all(b"s3cret-pw" not in source for source in snapshot(project).values())
    assert "s3cret-pw" not in first.stdout + first.stderr

    migrated = snapshot(project)
    again = rewrite("--broker", broker, str(project))

    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(project) == migrated


def test_rewrite_migrates_a_django_project_and_its_celery_settings(tmp_path):
    project = copy_project(BOOKSHOP, tmp_path / "bookshop")

    first = rewrite(str(project))

    assert first.returncode == 0, first.stdout + first.stderr
    assert_imports_cfq_shim_not_celery(project, "config/celery.py", "orders/tasks.py")
    # Django settings read through namespace="CELERY" keep their prefix and get current names.
    settings = {}
    exec((project / "config/settings.py").read_text(), settings)
    assert settings["CELERY_BROKER_URL"] == "cloudflare://"  # the environment variable is not set here
    assert settings["CELERY_BROKER_VISIBILITY_TIMEOUT"] == 60
    assert "CELERY_BROKER_TRANSPORT_OPTIONS" not in settings
    assert settings["CELERY_TASK_DEFAULT_QUEUE"] == "bookshop"
    assert all(b"guest:guest" not in source for source in snapshot(project).values())
    assert "CFQ202" in first.stdout + first.stderr

    migrated = snapshot(project)
    again = rewrite(str(project))

    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(project) == migrated


def run_eager(project: Project, copy: Path, events_file: Path, *, celery_installed: bool) -> list[dict]:
    result = subprocess.run(
        [sys.executable, str(EAGER_RUNNER), project.celery_app, project.orders],
        capture_output=True, text=True, timeout=DEADLINE_SECONDS, cwd=copy,
        env=base_env(
            E2E_EVENTS_FILE=str(events_file),
            PYTHONPATH=python_path(copy, celery_installed=celery_installed),
            **dict(project.env),
        ),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return read_events(events_file)


@pytest.mark.parametrize("project", [SHOP, NEWSLETTER, BOOKSHOP, WEBAPP], ids=lambda project: project.package)
def test_migrated_project_in_eager_mode_does_what_celery_did(tmp_path, project):
    # Given the project's test-suite setting, task_always_eager, under Celery and after migration
    original = copy_project(project, tmp_path / "original")
    migrated = migrate(project, tmp_path / "migrated")
    assert all("celery" not in imported_modules(path) for path in migrated.rglob("*.py"))

    # When the same calls run eagerly
    under_celery = run_eager(project, original, tmp_path / "celery.jsonl", celery_installed=True)
    under_shim = run_eager(project, migrated, tmp_path / "shim.jsonl", celery_installed=False)

    # Then the same things happen in the same order (eager mode is synchronous): runs, retries, hooks,
    # results and failures.
    assert any(event["event"] == "run" and event["retries"] > 0 for event in under_celery)
    assert under_shim == under_celery


LOAD_WITH_WARNINGS_AS_ERRORS = """\
import importlib, os, sys, warnings
from cfq_shim.exceptions import NotConfigured
warnings.simplefilter("error", NotConfigured)
if "DJANGO_SETTINGS_MODULE" in os.environ:
    import django
    django.setup()
module, attribute = sys.argv[1].split(":")
app = getattr(importlib.import_module(module), attribute)
print(app.conf.task_default_queue, len(app.tasks))
"""


def load_migrated_app(project: Project, copy: Path) -> subprocess.CompletedProcess:
    """Imports the migrated app and its tasks with cfq_shim's NotConfigured warnings turned into errors."""
    return subprocess.run(
        [sys.executable, "-c", LOAD_WITH_WARNINGS_AS_ERRORS, project.celery_app],
        capture_output=True, text=True, timeout=DEADLINE_SECONDS, cwd=copy,
        env=base_env(PYTHONPATH=python_path(copy, celery_installed=False), **dict(project.env)),
    )


@pytest.mark.parametrize("project", [SHOP, NEWSLETTER, BOOKSHOP, WEBAPP], ids=lambda project: project.package)
def test_migrated_project_loads_without_configuration_warnings(tmp_path, project):
    # Every setting and option the codemod writes or keeps without a finding is one the shim knows.
    copy = migrate(project, tmp_path / project.package)

    result = load_migrated_app(project, copy)

    assert result.returncode == 0, result.stderr[-4000:]


def test_a_task_option_kept_without_a_finding_is_honoured_by_the_shim(tmp_path):
    # rate_limit: the codemod keeps it silently, so the shim must enforce it (it does since dac0db6).
    package = tmp_path / "throttled"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "from celery import Celery\n\n"
        "app = Celery('throttled', broker='redis://localhost:6379/0')\n\n\n"
        "@app.task(rate_limit='10/m')\n"
        "def poll(url):\n"
        "    return url\n"
    )

    report = rewrite(str(tmp_path))
    loaded = load_migrated_app(Project("throttled", celery_app="throttled.tasks:app", shim_app="throttled.tasks",
                                       orders=""), tmp_path)

    assert report.returncode == 0, report.stdout + report.stderr
    # Either the shim honours the option as it was kept, or the codemod told the user (CFQ302).
    assert loaded.returncode == 0 or "CFQ302" in report.stdout, loaded.stderr[-2000:]


def test_rewrite_rewrites_or_reports_a_flask_config_broker(tmp_path):
    project = copy_project(WEBAPP, tmp_path / "webapp")

    result = rewrite(str(project))

    assert result.returncode == 0, result.stdout + result.stderr
    assert_imports_cfq_shim_not_celery(project, "webapp/__init__.py", "webapp/tasks.py")
    still_redis = "redis://" in (project / "webapp/__init__.py").read_text()
    findings = re.findall(r"webapp/__init__\.py:\d+:\d+: (CFQ\d+)", result.stdout + result.stderr)
    assert not still_redis or findings, result.stdout


def test_a_file_left_on_celery_keeps_a_broker_celery_can_use(tmp_path):
    (tmp_path / "tasks.py").write_text(
        "import celery\n\n"
        "app = celery.Celery('p', broker='redis://localhost:6379/0')\n\n\n"
        "@app.task\n"
        "def skip():\n"
        "    raise celery.exceptions.Ignore()\n"
    )

    result = rewrite(str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    migrated = (tmp_path / "tasks.py").read_text()
    # Either the whole file moved to cfq_shim, or what stays on Celery still runs on Celery.
    assert "celery" not in imported_modules(tmp_path / "tasks.py") or "cloudflare://" not in migrated, migrated


# --- migrated projects run by a real worker (slow) ---------------------------------------------------------


@pytest.mark.slow
def test_env_broker_project_on_the_embedded_store_does_what_celery_did(tmp_path, celery_events):
    copy = migrate(SHOP, tmp_path / "shop")
    database = tmp_path / "q.db"
    run = MigratedRun(SHOP, copy, tmp_path, CELERY_BROKER_URL=f"sqlite:///{database}")

    drain_and_compare(run, celery_events(SHOP), "-c", "2")

    assert database.exists()


@pytest.mark.slow
def test_literal_broker_project_migrated_with_broker_option_does_what_celery_did(tmp_path, celery_events):
    database = tmp_path / "q.db"
    copy = migrate(NEWSLETTER, tmp_path / "newsletter", "--broker", f"sqlite:///{database}")
    run = MigratedRun(NEWSLETTER, copy, tmp_path)

    queues = drain_and_compare(run, celery_events(NEWSLETTER), "-P", "solo")

    # The worker consumed the route's queue too, without -Q, as the app knows it.
    assert sorted(queue["queue"] for queue in queues) == ["mail", "templates"]

    assert database.exists()


@pytest.mark.slow
def test_django_project_on_the_embedded_store_does_what_celery_did(tmp_path, celery_events):
    copy = migrate(BOOKSHOP, tmp_path / "bookshop")
    run = MigratedRun(BOOKSHOP, copy, tmp_path, CELERY_BROKER_URL=f"sqlite:///{tmp_path / 'q.db'}")

    queues = drain_and_compare(run, celery_events(BOOKSHOP), "-c", "2")

    # CELERY_TASK_DEFAULT_QUEUE, read through config_from_object(..., namespace="CELERY").
    assert [queue["queue"] for queue in queues] == ["bookshop"]


@pytest.mark.slow
def test_flask_project_on_the_embedded_store_does_what_celery_did(tmp_path, celery_events):
    copy = migrate(WEBAPP, tmp_path / "webapp")
    run = MigratedRun(WEBAPP, copy, tmp_path, CELERY_BROKER_URL=f"sqlite:///{tmp_path / 'q.db'}")

    drain_and_compare(run, celery_events(WEBAPP), "-c", "2")


@pytest.fixture
def stand_in(tmp_path) -> Iterator[dict[str, str]]:
    """``cfq-shim emulator`` on a free loopback port; yields the environment that points the SDK at it."""
    output = tmp_path / "emulator.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            [script("cfq-shim"), "emulator", "--host", "127.0.0.1", "--port", "0"],
            stdout=out, stderr=subprocess.STDOUT, env=base_env(),
        )
    try:
        def base_url():
            for word in output.read_text().split():
                if word.startswith("CLOUDFLARE_BASE_URL="):
                    return word.split("=", 1)[1]
            assert process.poll() is None, output.read_text()
            return None

        url = wait_for(base_url, what="the stand-in to listen", timeout_seconds=30)
        yield {"CLOUDFLARE_BASE_URL": url, "CLOUDFLARE_API_TOKEN": DUMMY_TOKEN}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_env_broker_project_on_the_cloudflare_path_does_what_celery_did(tmp_path, celery_events, stand_in):
    copy = migrate(SHOP, tmp_path / "shop")
    run = MigratedRun(SHOP, copy, tmp_path, CELERY_BROKER_URL=f"cloudflare://{ACCOUNT}", **stand_in)
    # Queues are not created on first use on Cloudflare: a user provisions them first.
    assert [queue["exists"] for queue in run.inspect()] == [False]
    provision = run.shim("provision")
    assert [queue["exists"] for queue in run.inspect()] == [True]

    drain_and_compare(run, celery_events(SHOP), "-P", "threads", "-c", "2")

    assert DUMMY_TOKEN not in provision.stdout + provision.stderr
    assert DUMMY_TOKEN not in run.worker_log.read_text()


@pytest.mark.slow
def test_literal_broker_project_on_the_cloudflare_default_does_what_celery_did(tmp_path, celery_events, stand_in):
    # Migrated without --broker: the amqp:// URL became "cloudflare://", the account comes from the environment.
    copy = migrate(NEWSLETTER, tmp_path / "newsletter")
    run = MigratedRun(NEWSLETTER, copy, tmp_path, CLOUDFLARE_ACCOUNT_ID=ACCOUNT, **stand_in)
    provision = run.shim("provision")
    # Both queues the app knows (the default and the route's), each with its dead-letter queue.
    assert [(queue["queue"], queue["exists"]) for queue in run.inspect()] == [("mail", True), ("templates", True)]
    assert "mail-dlq" in provision.stdout and "templates-dlq" in provision.stdout

    drain_and_compare(run, celery_events(NEWSLETTER), "-c", "2")

    assert DUMMY_TOKEN not in provision.stdout + provision.stderr
    assert DUMMY_TOKEN not in run.worker_log.read_text()


def provisioned_shop(tmp_path: Path, stand_in: dict[str, str]) -> MigratedRun:
    """The migrated shop on the Cloudflare stand-in (account from the environment), queues provisioned."""
    copy = migrate(SHOP, tmp_path / "shop")
    run = MigratedRun(SHOP, copy, tmp_path, CLOUDFLARE_ACCOUNT_ID=ACCOUNT, **stand_in)
    run.shim("provision")
    return run


@pytest.mark.slow
def test_a_worker_killed_mid_task_on_the_cloudflare_path_loses_nothing(tmp_path, stand_in):
    # Given a migrated project on Cloudflare (the stand-in) and short leases
    run = provisioned_shop(tmp_path, stand_in)
    flags = ("-P", "threads", "-c", "1", "--visibility-timeout", "2")

    # When the first worker is killed with SIGKILL while a parcel is being packed
    with run.worker(*flags, log_name="killed.log") as first:
        keys = run.place_orders("shop.orders:pack_parcels")
        wait_for(lambda: read_events(run.events_file), what="a task to start", on_timeout=run.log_tail)
        first.kill()
        first.wait(timeout=DEADLINE_SECONDS)
    started_before_the_kill = {e["key"] for e in read_events(run.events_file) if e["event"] == "run"}
    unfinished = started_before_the_kill - terminal_keys(run.events_file)
    assert unfinished, "the kill came too late to interrupt a task"

    # Then a second worker runs every parcel, the interrupted one again once its lease has expired
    with run.worker(*flags, log_name="second.log") as second:
        wait_for(lambda: keys <= terminal_keys(run.events_file), what="every parcel to be packed",
                 on_timeout=lambda: f"events: {read_events(run.events_file)}\nlog: {run.log_tail()}")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=DEADLINE_SECONDS) == 0, run.log_tail()

    runs = [e["key"] for e in read_events(run.events_file) if e["event"] == "run"]
    for key in unfinished:
        assert runs.count(key) >= 2, runs
    assert [queue["dead_letters"] for queue in run.inspect()] == [0]
    for log in ("killed.log", "second.log"):
        assert DUMMY_TOKEN not in (tmp_path / log).read_text()


@pytest.mark.slow
def test_a_worker_on_the_cloudflare_path_logs_tasks_not_sdk_requests(tmp_path, stand_in):
    run = provisioned_shop(tmp_path, stand_in)

    with run.worker("-P", "threads", "-c", "1") as worker:
        keys = run.place_orders("shop.orders:pack_parcels")
        wait_for(lambda: keys <= terminal_keys(run.events_file), what="the parcels", on_timeout=run.log_tail)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=DEADLINE_SECONDS) == 0, run.log_tail()

    log = run.worker_log.read_text()
    assert log.count(" succeeded in ") == len(keys), log[-4000:]
    assert "HTTP Request:" not in log, [line for line in log.splitlines() if "HTTP Request:" in line][:3]


def test_before_provisioning_producer_and_worker_fail_naming_provision(tmp_path, stand_in):
    copy = migrate(SHOP, tmp_path / "shop")
    run = MigratedRun(SHOP, copy, tmp_path, CLOUDFLARE_ACCOUNT_ID=ACCOUNT, **stand_in)
    code = "from shop.orders import place_orders; place_orders()"

    producer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=DEADLINE_SECONDS, env=run.env, cwd=copy)
    worker = subprocess.run([script("cfq-shim"), "-A", "shop", "worker"], capture_output=True, text=True,
                            timeout=DEADLINE_SECONDS, env=run.env, cwd=copy)

    assert producer.returncode != 0
    assert "provision" in producer.stderr.splitlines()[-1], producer.stderr[-2000:]
    assert worker.returncode != 0
    assert "provision" in worker.stderr, worker.stderr[-2000:]
    assert "Traceback" not in worker.stderr
    assert DUMMY_TOKEN not in producer.stderr + worker.stdout + worker.stderr
    assert not read_events(run.events_file)


# --- the migration guide stays true to the CLI (fast) -----------------------------------------------------

GUIDE = Path(__file__).parents[2] / "docs" / "migration-guide.md"
#: The guide's example project, file for file (tests/e2e/projects/guide/proj).
GUIDE_PROJECT = PROJECTS / "guide"
TOOLS = ("celery2cfq", "cfq-shim")


def guide_commands() -> list[list[str]]:
    """The ``$ celery2cfq …`` and ``$ cfq-shim …`` command lines of the guide's console blocks, as argv."""
    commands = []
    for line in GUIDE.read_text().splitlines():
        line = line.strip()
        if not line.startswith("$ "):
            continue
        argv = shlex.split(line[2:], comments=True)
        if argv and argv[0] in TOOLS:
            commands.append(argv)
    return commands


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the command and subcommand, the options given to them): ``cfq-shim -A proj worker -l info``
    gives ``(["cfq-shim", "worker"], ["-A", "-l"])``."""
    command, options, rest = [argv[0]], [], argv[1:]
    while rest:
        word = rest.pop(0)
        if word.startswith("-"):
            options.append(word.split("=", 1)[0])
            if word in ("-A", "--app"):
                rest.pop(0)
        elif len(command) == 1:
            command.append(word)
    return command, options


@functools.cache
def cli_options(command: tuple[str, ...]) -> frozenset[str]:
    """The options ``COMMAND --help`` lists (e.g. ``-l``, ``--loglevel``), read from the real CLI."""
    result = subprocess.run([script(command[0]), *command[1:], "--help"], capture_output=True, text=True,
                            timeout=DEADLINE_SECONDS, env=base_env())
    assert result.returncode == 0, f"{' '.join(command)} --help: {result.stderr}"
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", result.stdout))


def test_every_option_the_guide_uses_is_in_the_cli_help():
    commands = guide_commands()
    assert len(commands) >= 15, "the guide lost its commands"
    for argv in commands:
        command, options = split_command(argv)
        # Global options (-A, --version) are in the tool's own help; the others in the subcommand's.
        known = cli_options(tuple(command)) | cli_options(tuple(command[:1]))
        unknown = [option for option in options if option not in known]
        assert not unknown, f"guide: {' '.join(argv)}: not an option: {unknown}"


def guide_output_of(command: str) -> str:
    """What the guide shows after ``$ COMMAND`` in a console block, up to the next command or the block's end."""
    lines = GUIDE.read_text().splitlines()
    start = lines.index(f"$ {command}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("$ ", "```")))
    return "\n".join(lines[start:end]) + "\n"


def test_the_guide_example_is_the_tested_project():
    blocks = re.findall(r"```python\n# (proj/\w+\.py)\n(.*?)```", GUIDE.read_text(), re.S)
    assert [name for name, _ in blocks] == ["proj/celery.py", "proj/tasks.py"]
    for name, code in blocks:
        assert code == (GUIDE_PROJECT / name).read_text(), name


def test_the_guide_shows_what_rewrite_diff_prints_today(tmp_path):
    shutil.copytree(GUIDE_PROJECT, tmp_path / "myproject", ignore=shutil.ignore_patterns("__pycache__"))

    result = subprocess.run(
        [script("celery2cfq"), "rewrite", "myproject", "--diff"], cwd=tmp_path, env=base_env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=DEADLINE_SECONDS,
    )

    assert result.returncode == 1
    # When this fails, the codemod's output changed: update section 2 (and 3, 4) of docs/migration-guide.md.
    assert result.stdout == guide_output_of("celery2cfq rewrite myproject --diff")
