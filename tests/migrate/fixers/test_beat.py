"""CFQ503/CFQ504: beat schedules and django_celery_beat."""

from fixer_helpers import check_noop, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_beat():
    result = check_noop(APP + "app.conf.beat_schedule = {}\n@app.on_after_configure.connect\ndef setup(sender, **kw):\n    sender.add_periodic_task(10.0, t.s())\n")
    assert codes(result) == ["CFQ504", "CFQ504"]


def test_django_celery_beat():
    result = check_noop("from django_celery_beat.models import PeriodicTask\nimport django_celery_beat\nAPPS = ['django_celery_beat']\n")
    assert codes(result) == ["CFQ503", "CFQ503", "CFQ503"]
