from celery import shared_task


@shared_task
def cleanup():
    return None
