import celery
from celery import shared_task


@shared_task(ignore_result=False)
def greet(name):
    if not name:
        raise celery.exceptions.Ignore()
    return f"hello {name}"
