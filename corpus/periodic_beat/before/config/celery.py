import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def setup_periodic_tasks(sender, **kwargs):
    from clinic.tasks import send_reminders

    sender.add_periodic_task(2.0, send_reminders.s("from-signal"), name="reminders-from-signal")
    sender.add_periodic_task(crontab(minute="*"), send_reminders.s("every-minute"), name="reminders-every-minute")
