from celery.utils.log import get_task_logger

from proj.celery_app import app

logger = get_task_logger(__name__)


@app.task
def add(x, y):
    return x + y


@app.task(bind=True, max_retries=3, priority=5, queue="math")
def mul(self, x, y):
    logger.info("mul %s %s", x, y)
    return x * y


@app.task(
    name="proj.tasks.slow",
    routing_key="slow",
    rate_limit="10/m",
)
def slow(n):
    return n
