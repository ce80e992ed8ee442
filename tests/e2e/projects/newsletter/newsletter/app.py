from celery import Celery, Task
from e2e_events import record


class AuditedTask(Task):
    """Records the hooks Celery calls, with the call's key (its first argument)."""

    def on_success(self, retval, task_id, args, kwargs):
        record("hook", key=args[0], hook="on_success")

    def on_retry(self, exc, task_id, args, kwargs, einfo):
        record("hook", key=args[0], hook="on_retry", exc=type(exc).__name__)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        record("failed", key=args[0], task=self.name, exc=type(exc).__name__)


app = Celery("newsletter", include=["newsletter.tasks"])
app.config_from_object("newsletter.celeryconfig")
