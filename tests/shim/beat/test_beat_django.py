"""``cfq-shim beat -S django``: django_celery_beat's tables, read through a real Django project.

Given a Django project with django_celery_beat migrated into SQLite and rows of every kind (interval,
crontab, clocked one-off, disabled, not started yet, expired, solar), when beat runs a few seconds, then
each row behaves as django_celery_beat's DatabaseScheduler makes it behave, and the runs are written back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("django_celery_beat", reason="django-celery-beat is in the test extra")

from cfq_shim.beat.django_scheduler import scheduler_kind  # noqa: E402

SETTINGS = '''
SECRET_KEY = "test"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_celery_beat"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
USE_TZ = True
TIME_ZONE = "UTC"
CELERY_BROKER_URL = "sqlite:///queues.sqlite3"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {"from-settings": {"task": "site_tasks.record", "schedule": 2.0, "args": ["settings"]}}
'''

CELERY_MODULE = '''
from cfq_shim import Celery

app = Celery("site_tasks")
app.config_from_object("django.conf:settings", namespace="CELERY")

@app.task(name="site_tasks.record")
def record(label):
    return label
'''

ROWS = '''
import django, json
django.setup()
from datetime import timedelta
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
now = timezone.now()
every_second = IntervalSchedule.objects.create(every=1, period="seconds")
PeriodicTask.objects.create(name="interval", task="site_tasks.record", interval=every_second, args=json.dumps(["interval"]),
                            headers=json.dumps({"origin": "admin"}), expire_seconds=30)
PeriodicTask.objects.create(name="disabled", task="site_tasks.record", interval=every_second, enabled=False)
PeriodicTask.objects.create(name="later", task="site_tasks.record", interval=every_second, start_time=now + timedelta(days=1))
PeriodicTask.objects.create(name="expired", task="site_tasks.record", interval=every_second, expires=now - timedelta(minutes=1))
PeriodicTask.objects.create(name="once", task="site_tasks.record", one_off=True, args=json.dumps(["once"]),
                            clocked=ClockedSchedule.objects.create(clocked_time=now + timedelta(seconds=2)))
PeriodicTask.objects.create(name="every-minute", task="site_tasks.record", args=json.dumps(["cron"]),
                            crontab=CrontabSchedule.objects.create(minute="*", timezone="Europe/Berlin"))
'''


def _run_beat_until(directory: Path, args: list[str], done, timeout: float = 90.0) -> str:
    """Run beat, wait until ``done(log_text)`` (not a fixed sleep: start-up is slow on a loaded machine),
    then SIGTERM it; return its log."""
    log_path = directory / f"beat-{len(list(directory.glob('beat-*.log')))}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cfq_shim", "-A", "site_tasks", "beat", "-l", "info", *args],
                                cwd=directory, env=_env(directory), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not done(log_path.read_text()) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    output = log_path.read_text()
    assert proc.returncode == 0, output
    return output


def _sent(output: str, name: str) -> int:
    return output.count(f"Sending due task {name} ")


def _env(directory: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(directory), "DJANGO_SETTINGS_MODULE": "site_settings", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def django_project(tmp_path):
    (tmp_path / "site_settings.py").write_text(SETTINGS)
    (tmp_path / "site_tasks.py").write_text(CELERY_MODULE)
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], cwd=tmp_path, env=_env(tmp_path), check=True, timeout=120)
    subprocess.run([sys.executable, "-c", ROWS], cwd=tmp_path, env=_env(tmp_path), check=True, timeout=60)
    return tmp_path


def _query(directory: Path, code: str):
    script = "import django, json\ndjango.setup()\nfrom django_celery_beat.models import PeriodicTask\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], cwd=directory, env=_env(directory), check=True, timeout=60,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def _queued(directory: Path) -> list[dict]:
    from cfq_shim.envelope import decode
    from cfq_shim.transport.sqlite import SQLiteTransport

    transport = SQLiteTransport(str(directory / "queues.sqlite3"))
    try:
        batch = transport.pull("celery", batch_size=100, visibility_timeout_ms=60_000)
        return [{"args": decode(m.body).args, "headers": decode(m.body).headers, "expires": decode(m.body).expires} for m in batch]
    finally:
        transport.close()


def test_periodic_tasks_from_the_database_run_as_django_celery_beat_runs_them(django_project):
    # When beat runs with the scheduler named in the settings (CELERY_BEAT_SCHEDULER) until the interval row
    # ran three times and the clocked one-off (due 2 s after the rows were made) ran
    output = _run_beat_until(django_project, ["--lease", "5"],
                             lambda log: _sent(log, "interval") >= 3 and _sent(log, "once") >= 1 and _sent(log, "from-settings") >= 1)
    # Then the solar-free rows behave as django_celery_beat's: interval runs, disabled/later/expired do not
    labels = [message["args"][0] for message in _queued(django_project) if message["args"]]
    assert labels.count("interval") >= 3
    assert labels.count("once") == 1
    assert labels.count("settings") >= 1
    assert not {"disabled", "later", "expired"} & {line.split("Sending due task ")[-1].split(" ")[0] for line in output.splitlines()}
    rows = _query(django_project, '''
        print(json.dumps({t.name: [t.enabled, t.total_run_count, t.last_run_at is not None] for t in PeriodicTask.objects.all()}))
    ''')
    # And the runs are written back: counts, last_run_at, and the one-off disabled (count reset, as django_celery_beat)
    assert rows["interval"][0] is True and rows["interval"][1] == labels.count("interval") and rows["interval"][2]
    assert rows["once"] == [False, 0, True]
    assert rows["disabled"][1] == 0 and rows["later"][1] == 0 and rows["expired"][1] == 0


def test_headers_and_expiry_of_a_row_reach_the_message(django_project):
    _run_beat_until(django_project, ["-S", "django"], lambda log: _sent(log, "interval") >= 1)
    message = next(m for m in _queued(django_project) if m["args"] == ["interval"])
    assert message["headers"]["periodic_task_name"] == "interval" and message["headers"]["origin"] == "admin"
    assert message["headers"]["celery_beat_task"] is True and message["expires"] is not None


def test_a_solar_row_is_a_one_line_start_up_error_naming_it(django_project):
    subprocess.run([sys.executable, "-c", textwrap.dedent('''
        import django
        django.setup()
        from django_celery_beat.models import PeriodicTask, SolarSchedule
        PeriodicTask.objects.create(name="at-dawn", task="site_tasks.record",
                                    solar=SolarSchedule.objects.create(event="sunrise", latitude=52.5, longitude=13.4))
    ''')], cwd=django_project, env=_env(django_project), check=True, timeout=60)
    result = subprocess.run([sys.executable, "-m", "cfq_shim", "-A", "site_tasks", "beat"], cwd=django_project,
                            env=_env(django_project), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: periodic task 'at-dawn' (django_celery_beat): solar schedules are not supported by cfq-shim beat; "
        "use a crontab at the local time"]


def test_scheduler_names_and_a_missing_package(monkeypatch):
    assert scheduler_kind(None) == scheduler_kind("celery.beat:PersistentScheduler") == "file"
    assert scheduler_kind("django") == scheduler_kind("django_celery_beat.schedulers:DatabaseScheduler") == "django"
    with pytest.raises(ValueError, match="redbeat"):
        scheduler_kind("redbeat.RedBeatScheduler")
    import importlib.util

    from cfq_shim.beat import django_scheduler
    from cfq_shim.beat.entries import ScheduleError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(django_scheduler.importlib.util, "find_spec",
                        lambda name, *a: None if name == "django_celery_beat" else real_find_spec(name, *a))
    with pytest.raises(ScheduleError, match="django-celery-beat package is not installed"):
        django_scheduler.DjangoSchedule(object())  # type: ignore[arg-type]
