import celery as c
from celery import Celery as C, shared_task as st
from celery.exceptions import Retry as RetryTask, SoftTimeLimitExceeded

app = C("jobs", broker="amqp://localhost")


@st(bind=True, autoretry_for=(IOError,), retry_backoff=True)
def fetch(self, url):
    try:
        return url
    except SoftTimeLimitExceeded:
        raise RetryTask()


current = c.current_app
