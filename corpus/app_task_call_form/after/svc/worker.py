from cfq_shim import Celery

app = Celery("svc", broker="cloudflare://")


def _resize(path, width):
    return path, width


def _cleanup():
    return None


resize = app.task(_resize, name="svc.resize")
cleanup = app.task(_cleanup)
retrying = app.task(acks_late=True, max_retries=5)


@retrying
def upload(path):
    return path
