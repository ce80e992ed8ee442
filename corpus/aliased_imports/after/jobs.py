import cfq_shim as c
from cfq_shim import Celery as C, shared_task as st
from cfq_shim.exceptions import Retry as RetryTask, SoftTimeLimitExceeded

app = C("jobs", broker="cloudflare://")


@st(bind=True, autoretry_for=(IOError,), retry_backoff=True)
def fetch(self, url):
    try:
        return url
    except SoftTimeLimitExceeded:
        raise RetryTask()


current = c.current_app
