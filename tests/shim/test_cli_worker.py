"""``cfq-shim`` as a user runs it: a real process for the worker, clear errors without tracebacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import cfq_shim


def cli(*args, cwd, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "cfq_shim", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "__init__.py").write_text("")
    (tmp_path / "proj" / "celery.py").write_text(textwrap.dedent(f"""
        from cfq_shim import Celery
        app = Celery("proj", broker="sqlite:///{tmp_path}/q.sqlite3")

        @app.task
        def add(x, y):
            return x + y
    """))
    (tmp_path / "badbroker.py").write_text(textwrap.dedent("""
        from cfq_shim import Celery
        app = Celery("bad", broker="redis://admin:s3cr3t-pw@localhost:6379/0")
    """))
    return tmp_path


def test_version(tmp_path):
    result = cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"cfq-shim, version {cfq_shim.__version__}"


def test_help_lists_every_command(tmp_path):
    result = cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("worker", "inspect", "purge", "provision", "emulator"):
        assert command in result.stdout


def test_missing_app_is_a_one_line_error(tmp_path):
    result = cli("-A", "no_such_project", "worker", cwd=tmp_path)
    assert result.returncode != 0
    assert "no module named 'no_such_project'" in result.stderr and "Traceback" not in result.stderr


def test_worker_without_app_says_how_to_give_one(tmp_path):
    result = cli("worker", cwd=tmp_path)
    assert result.returncode == 2 and "-A/--app" in result.stderr


def test_unsupported_broker_url_is_explained_without_the_password(project):
    result = cli("-A", "badbroker", "worker", "-P", "solo", cwd=project)
    assert result.returncode == 1
    assert "is a Celery broker" in result.stderr and "sqlite:///" in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_batch_size_above_the_transport_limit_is_refused(project):
    result = cli("-A", "proj", "worker", "-P", "solo", "--batch-size", "500", cwd=project)
    assert result.returncode == 1 and "--batch-size must be between 1 and 100" in result.stderr


def test_a_bug_inside_the_running_worker_keeps_its_traceback(project):
    """Only start-up errors are one-line messages; an error raised once the worker runs is a bug and
    is shown with its traceback (issue 7). The bug is planted in the worker's loop by the app module."""
    (project / "buggy.py").write_text(textwrap.dedent(f"""
        from cfq_shim import Celery
        from cfq_shim.worker.consumer import Worker

        app = Celery("buggy", broker="sqlite:///{project}/q.sqlite3")

        def broken_loop(self):
            raise ValueError("a planted bug in the worker loop")

        Worker._loop = broken_loop
    """))
    result = cli("-A", "buggy", "worker", "-P", "solo", cwd=project)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ValueError: a planted bug in the worker loop" in result.stderr
    assert not any(line.startswith("Error: ") for line in result.stderr.splitlines())  # click's one-liner


def run_worker_until(project, args, expected_text):
    """Start ``cfq-shim ARGS`` in ``project``, wait for ``expected_text`` in its log, SIGTERM it, and
    return the log once it has exited 0."""
    log = project / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "cfq_shim", *args], cwd=project, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while expected_text not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    return log.read_text()


def test_worker_prints_a_banner_logs_tasks_like_celery_and_exits_0_on_sigterm(project):
    send = subprocess.run(
        [sys.executable, "-c", "from proj.celery import add; print(add.delay(2, 2).id)"],
        cwd=project, capture_output=True, text=True, check=True,
    )
    task_id = send.stdout.strip()
    text = run_worker_until(project, ["-A", "proj", "worker", "-l", "info", "-P", "threads", "-c", "3"],
                            f"proj.celery.add[{task_id}] succeeded in")
    assert ".> concurrency: 3 (threads)" in text
    assert f".> transport:   sqlite:///{project}/q.sqlite3" in text
    assert ".> results:     disabled://" in text  # as Celery's banner, for a project with no backend
    assert ".> celery" in text and "  . proj.celery.add" in text
    assert f"Task proj.celery.add[{task_id}] received" in text
    assert "Warm shutdown" in text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="prefork default start method")
def test_default_pool_is_prefork_with_one_process_per_cpu(project):
    text = run_worker_until(project, ["-A", "proj", "worker"], ".> concurrency")
    assert f".> concurrency: {os.cpu_count()} (prefork)" in text
