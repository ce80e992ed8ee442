from celery import shared_task


@shared_task
def weekly():
    return None
