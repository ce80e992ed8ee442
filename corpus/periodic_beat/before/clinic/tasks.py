from celery import shared_task

from e2e_events import record


@shared_task(bind=True)
def heartbeat(self, origin):
    record("heartbeat", origin=origin, task_id=self.request.id)


@shared_task(bind=True)
def send_reminders(self, origin):
    record("reminders", origin=origin, task_id=self.request.id)


@shared_task
def cleanup():
    record("cleanup")
