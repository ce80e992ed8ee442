from celery import shared_task


@shared_task
def fine():
    return 1
