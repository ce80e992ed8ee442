"""End to end, as a user lives it: a Celery project, migrated by ``celery2cfq rewrite``, run by ``cfq-shim``.

The project (tests/e2e/projects/shop) is a small Celery package of the usual shape: an app module whose
broker comes from ``CELERY_BROKER_URL`` with a ``redis://`` default, tasks defined with ``@app.task`` and
``@shared_task``, ``bind`` + ``self.retry``, ``autoretry_for``, a ``countdown``, a ``task_failure`` handler,
and a caller using ``.delay()`` and ``.apply_async()``. The tasks write their side effects (each run with
its retry count, each result, each failure) as JSON lines to ``SHOP_EVENTS_FILE``.

1. Under real Celery 5.7 (a worker thread on ``memory://``, tests/e2e/projects/run_under_celery.py) the
   project records what Celery does.
2. A copy is migrated with the real ``celery2cfq`` CLI.
3. The migrated copy sends the same calls and a real ``cfq-shim -A shop worker`` process runs them, on the
   embedded store and on the Cloudflare path (the ``cfq-shim emulator`` stand-in and the official SDK).
   The side effects must equal Celery's, and every failure Celery recorded must be in the dead-letter queue.

Everything here runs in subprocesses, talks only to 127.0.0.1, and waits on conditions with deadlines.
"""

from __future__ import annotations

import ast
import json
import os
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
SHOP = PROJECTS / "shop"
CELERY_RUNNER = PROJECTS / "run_under_celery.py"
BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 90.0
POLL_SECONDS = 0.1
#: Recognisable, so the test can prove it never reaches a log.
DUMMY_TOKEN = "e2e-dummy-token-never-printed-4b1d"
ACCOUNT = "0123456789abcdef0123456789abcdef"
TERMINAL_EVENTS = ("result", "failed")
#: Variables the project or the shim read; the tests set them explicitly.
ISOLATED_VARIABLES = (
    "CELERY_BROKER_URL",
    "CFQ_SHIM_BROKER_URL",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_BASE_URL",
    "CFQ_SHIM_QUEUE_PREFIX",
    "SHOP_EVENTS_FILE",
)


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


def copy_project(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def rewrite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [script("celery2cfq"), "rewrite", *args],
        capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=base_env(),
    )


def migrate(source: Path, destination: Path) -> Path:
    """Copies the project and migrates it in place with the real CLI; asserts the run was clean."""
    project = copy_project(source, destination)
    result = rewrite(str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    return project


# --- Celery: run once per module, compared with every migrated run ------------------------------------


@pytest.fixture(scope="module")
def celery_events(tmp_path_factory) -> list[dict]:
    workdir = tmp_path_factory.mktemp("celery")
    project = copy_project(SHOP, workdir / "project")
    events_file = workdir / "events.jsonl"
    result = subprocess.run(
        [sys.executable, str(CELERY_RUNNER), str(project), "shop", str(DEADLINE_SECONDS)],
        capture_output=True, text=True, timeout=DEADLINE_SECONDS + 30,
        env=base_env(SHOP_EVENTS_FILE=str(events_file)),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    events = read_events(events_file)
    # The reference itself must show what the comparison is about: retries, results and failures.
    assert any(event["event"] == "run" and event["retries"] > 0 for event in events)
    assert any(event["event"] == "failed" for event in events)
    return events


# --- the shim side ---------------------------------------------------------------------------------------


class MigratedRun:
    """A migrated copy of the project, a broker, and the processes started against them."""

    def __init__(self, project: Path, workdir: Path, **env: str) -> None:
        self.project = project
        self.events_file = workdir / "events.jsonl"
        self.worker_log = workdir / "worker.log"
        self.env = base_env(
            PYTHONPATH=os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH", "")])),
            SHOP_EVENTS_FILE=str(self.events_file),
            **env,
        )

    def shim(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [script("cfq-shim"), "-A", "shop", *args],
            capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=self.env, cwd=self.project,
        )
        if check:
            assert result.returncode == 0, f"cfq-shim {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def place_orders(self) -> set[str]:
        code = "import json; from shop.orders import place_orders; print(json.dumps(place_orders()))"
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True, text=True, timeout=DEADLINE_SECONDS, env=self.env, cwd=self.project,
        )
        assert result.returncode == 0, result.stderr
        return set(json.loads(result.stdout.strip().splitlines()[-1]))

    def inspect(self) -> dict:
        (queue,) = json.loads(self.shim("inspect", "--json", "--dead-letters", "50").stdout)["queues"]
        return queue

    @contextmanager
    def worker(self, *flags: str) -> Iterator[subprocess.Popen]:
        """A real worker process; stopped with SIGTERM (warm shutdown) when the block ends."""
        with self.worker_log.open("w") as log:
            process = subprocess.Popen(
                [script("cfq-shim"), "-A", "shop", "worker", "-l", "info", *flags],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.project,
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


def drain_and_compare(run: MigratedRun, celery_events: list[dict], *worker_flags: str) -> dict:
    """Sends the orders, runs a worker until all is settled, stops it; returns the queue's final figures."""
    with run.worker(*worker_flags) as worker:
        keys = run.place_orders()
        wait_for(lambda: keys <= terminal_keys(run.events_file), what="every call to end",
                 on_timeout=lambda: f"events: {read_events(run.events_file)}\nlog: {run.log_tail()}")

        def settled():
            queue = run.inspect()
            return queue if queue["ready"] == queue["delayed"] == queue["in_flight"] == 0 else None

        queue = wait_for(settled, what="the queue to be drained", on_timeout=run.log_tail)
        assert worker.poll() is None, f"worker exited early: {run.log_tail()}"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=DEADLINE_SECONDS) == 0, run.log_tail()

    # Same calls, same retry counts, same results, same failures (exception types), call by call.
    assert events_by_key(read_events(run.events_file)) == events_by_key(celery_events)
    # Every failure Celery recorded is a dead letter with its task and exception type, and nothing else is.
    celery_failures = sorted((e["task"], e["exc"]) for e in celery_events if e["event"] == "failed")
    dead_letters = queue["dead_letter_samples"]
    assert sorted((d["task"], d["exc_type"]) for d in dead_letters) == celery_failures
    assert {d["reason"] for d in dead_letters} == {"failed"}
    assert queue["dead_letters"] == len(celery_failures)
    return queue


# --- the tests -----------------------------------------------------------------------------------------------


def test_rewrite_migrates_the_project_and_a_second_run_changes_nothing(tmp_path):
    project = copy_project(SHOP, tmp_path / "shop")
    original = snapshot(project)

    first = rewrite(str(project))

    assert first.returncode == 0, first.stdout + first.stderr
    migrated = snapshot(project)
    assert migrated != original
    for name in ("shop/celery.py", "shop/tasks.py"):
        modules = imported_modules(project / name)
        assert "cfq_shim" in modules, name
        assert "celery" not in modules, name
    # The redis default is gone: the credentials-free Cloudflare URL takes its place, and the env read stays.
    app_module = (project / "shop/celery.py").read_text()
    assert "redis://" not in app_module
    assert 'os.environ.get("CELERY_BROKER_URL", "cloudflare://")' in app_module
    # The environment-read broker is reported, so the user knows what to set.
    assert "CFQ202" in first.stdout + first.stderr
    # Files the codemod has no business with are byte for byte the same.
    assert migrated["shop/orders.py"] == original["shop/orders.py"]
    assert migrated["shop/events.py"] == original["shop/events.py"]

    check = rewrite("--check", str(project))
    again = rewrite(str(project))

    assert check.returncode == 0, check.stdout + check.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(project) == migrated


def test_diff_writes_nothing_and_exits_1(tmp_path):
    project = copy_project(SHOP, tmp_path / "shop")
    original = snapshot(project)

    result = rewrite("--diff", str(project))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "+from cfq_shim import Celery" in result.stdout
    assert "-from celery import Celery" in result.stdout
    assert snapshot(project) == original


@pytest.mark.slow
def test_migrated_project_on_the_embedded_store_does_what_celery_did(tmp_path, celery_events):
    project = migrate(SHOP, tmp_path / "shop")
    run = MigratedRun(project, tmp_path, CELERY_BROKER_URL=f"sqlite:///{tmp_path / 'q.db'}")

    drain_and_compare(run, celery_events, "-c", "2")

    assert (tmp_path / "q.db").exists()


@pytest.fixture
def stand_in(tmp_path) -> Iterator[str]:
    """``cfq-shim emulator`` on a free loopback port; yields its CLOUDFLARE_BASE_URL."""
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

        yield wait_for(base_url, what="the stand-in to listen", timeout_seconds=30)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_migrated_project_on_the_cloudflare_path_does_what_celery_did(tmp_path, celery_events, stand_in):
    project = migrate(SHOP, tmp_path / "shop")
    run = MigratedRun(
        project, tmp_path,
        CELERY_BROKER_URL=f"cloudflare://{ACCOUNT}",
        CLOUDFLARE_BASE_URL=stand_in,
        CLOUDFLARE_API_TOKEN=DUMMY_TOKEN,
    )
    # Queues are not created on first use on Cloudflare: a user provisions them first.
    before = run.inspect()
    assert before["exists"] is False
    provision = run.shim("provision")
    assert run.inspect()["exists"] is True

    drain_and_compare(run, celery_events, "-P", "threads", "-c", "2")

    assert DUMMY_TOKEN not in provision.stdout + provision.stderr
    assert DUMMY_TOKEN not in run.worker_log.read_text()
