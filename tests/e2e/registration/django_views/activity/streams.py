from celery import shared_task


@shared_task
def push_activity(event):
    return event
