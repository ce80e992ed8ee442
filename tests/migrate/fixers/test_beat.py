"""CFQ503/CFQ504: beat schedules and django_celery_beat."""

from fixer_helpers import check_noop, check_transformed, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_beat():
    result = check_noop(APP + "app.conf.beat_schedule = {}\n@app.on_after_configure.connect\ndef setup(sender, **kw):\n    sender.add_periodic_task(10.0, t.s())\n")
    assert codes(result) == ["CFQ504", "CFQ504"]


def test_django_celery_beat():
    result = check_noop("from django_celery_beat.models import PeriodicTask\nimport django_celery_beat\nAPPS = ['django_celery_beat']\n")
    assert codes(result) == ["CFQ503", "CFQ503", "CFQ503"]


def test_schedule_imports_map_to_the_shim():
    # Issue 13: crontab, solar and schedule are the shim's (cfq_shim.schedules).
    check_transformed(
        "from celery.schedules import crontab, schedule, solar\n",
        "from cfq_shim.schedules import crontab, schedule, solar\n",
    )


def test_beat_schedule_says_to_start_the_shims_beat():
    result = check_noop(
        "from cfq_shim import Celery\napp = Celery('p')\napp.conf.beat_schedule = {'ping': {'task': 't', 'schedule': 30.0}}\n"
    )
    assert [(f.code, f.message) for f in result.findings] == [(
        "CFQ504",
        "beat_schedule: run cfq-shim -A proj beat (or cfq-shim -A proj worker -B) where celery beat ran; several "
        "beats may run, one sends each due time (docs/beat.md)",
    )]


def test_add_periodic_task_and_a_solar_schedule():
    result = check_noop(
        "from cfq_shim import Celery\nfrom cfq_shim.schedules import solar\napp = Celery('p')\n\n"
        "def setup(sender, **kwargs):\n    sender.add_periodic_task(\n        solar('sunset', 52.5, 13.4), ping.s())\n"
    )
    assert [(f.code, f.line) for f in result.findings] == [("CFQ504", 6), ("CFQ504", 7)]
    assert result.findings[0].message.startswith("add_periodic_task: run cfq-shim -A proj beat")
    assert result.findings[1].message == "solar(): cfq-shim beat refuses solar schedules; use a crontab at the local time"


def test_django_celery_beat_says_what_to_do():
    result = check_noop("from django_celery_beat.models import PeriodicTask\n", path="proj/admin.py")
    assert [f.code for f in result.findings] == ["CFQ503"]
    assert result.findings[0].message.startswith(
        "django_celery_beat: run cfq-shim -A proj beat -S django (or worker -B -S django) where celery beat ran"
    )
