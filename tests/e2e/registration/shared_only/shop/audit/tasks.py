from celery import shared_task


@shared_task
def never_discovered():
    return None
