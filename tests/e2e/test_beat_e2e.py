"""End to end for periodic tasks: a Django-style Celery project with ``CELERY_BEAT_SCHEDULE``, a
``crontab`` entry and ``add_periodic_task`` in an ``on_after_configure`` handler, migrated by the real
``celery2cfq rewrite`` and run by a real ``cfq-shim beat`` and ``cfq-shim worker`` (Celery hidden from
the path, as on a machine where only celery2cfq is installed).

The project is the corpus case corpus/periodic_beat (its ``before/`` tree, whose migration
tests/migrate/test_corpus.py checks against ``after/`` byte for byte); it records each task run as a
JSON line (e2e_events). The test waits until every entry has run — the every-minute crontab included, so it takes up to a minute and is
marked slow — then checks that no run happened twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

PROJECTS = Path(__file__).parent / "projects"
SOURCE = Path(__file__).parents[2] / "corpus" / "periodic_beat" / "before"
SUPPORT = PROJECTS / "support"
WITHOUT_CELERY = PROJECTS / "without_celery"
BIN = Path(sys.executable).parent


def _env(project: Path, **extra: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("CELERY_BROKER_URL", "CFQ_SHIM_BROKER_URL", "DJANGO_SETTINGS_MODULE", "E2E_EVENTS_FILE")}
    env["PYTHONPATH"] = os.pathsep.join([str(WITHOUT_CELERY), str(project), str(SUPPORT)])
    env.update(extra)
    return env


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def migrated(tmp_path):
    project = tmp_path / "periodic"
    shutil.copytree(SOURCE, project, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([str(BIN / "celery2cfq"), "rewrite", str(project)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def test_the_migrated_project_imports_the_shims_schedules(migrated):
    celery_module = (migrated / "config" / "celery.py").read_text()
    settings = (migrated / "config" / "settings.py").read_text()
    assert "from cfq_shim.schedules import crontab" in celery_module and "from celery" not in celery_module
    assert "from cfq_shim.schedules import crontab" in settings
    # And beat reads all four entries: two from the settings, two from the on_after_configure handler
    result = subprocess.run([sys.executable, "-c", (
        "from config.celery import app\n"
        "app.finalize()\n"
        "print(sorted(app.conf.beat_schedule))\n")], cwd=migrated, capture_output=True, text=True, timeout=60,
        env=_env(migrated, DJANGO_SETTINGS_MODULE="config.settings", E2E_EVENTS_FILE=str(migrated / "events.jsonl")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(["heartbeat", "nightly-cleanup", "reminders-every-minute", "reminders-from-signal"])


@pytest.mark.slow
def test_beat_and_a_worker_run_every_entry_of_the_migrated_project_once_per_due_time(migrated):
    events_file = migrated / "events.jsonl"
    env = _env(migrated, DJANGO_SETTINGS_MODULE="config.settings", E2E_EVENTS_FILE=str(events_file),
               CELERY_BROKER_URL=f"sqlite:///{migrated}/queues.sqlite3", PYTHONUNBUFFERED="1")
    logs = {name: open(migrated / f"{name}.log", "w") for name in ("beat", "worker")}
    processes = {
        "beat": subprocess.Popen([str(BIN / "cfq-shim"), "-A", "config", "beat", "-l", "info"], cwd=migrated, env=env,
                                 stdout=logs["beat"], stderr=subprocess.STDOUT),
        "worker": subprocess.Popen([str(BIN / "cfq-shim"), "-A", "config", "worker", "-P", "threads", "-c", "2", "-l", "info"],
                                   cwd=migrated, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT),
    }
    try:
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline:
            events = _events(events_file)
            origins = Counter(event.get("origin") for event in events)
            if origins["every-minute"] >= 1 and origins["from-signal"] >= 2 and origins["settings"] >= 3:
                break
            assert all(process.poll() is None for process in processes.values()), (
                (migrated / "beat.log").read_text()[-3000:] + (migrated / "worker.log").read_text()[-3000:])
            time.sleep(0.5)
        else:
            raise AssertionError("not every entry ran in time:\n" + (migrated / "beat.log").read_text()[-3000:])
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(60) for name, process in processes.items()}
        for log in logs.values():
            log.close()
    assert codes == {"beat": 0, "worker": 0}
    events = _events(events_file)
    # Each run has its own task id: no run was sent (or run) twice; the 03:30 crontab did not run now
    ids = Counter(event["task_id"] for event in events if "task_id" in event)
    assert max(ids.values()) == 1
    assert not [event for event in events if event["event"] == "cleanup"]
    beat_log = (migrated / "beat.log").read_text()
    assert "Traceback" not in beat_log and "4 entries" in beat_log
