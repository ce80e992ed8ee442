from cfq_shim.log import get_task_logger

from proj.celery_app import app

logger = get_task_logger(__name__)


@app.task
def add(x, y):
    return x + y


@app.task(bind=True, max_retries=3, queue="math")
def mul(self, x, y):
    logger.info("mul %s %s", x, y)
    return x * y


@app.task(
    name="proj.tasks.slow",
    rate_limit="10/m",
)
def slow(n):
    return n
