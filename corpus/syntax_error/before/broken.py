from celery import shared_task


@shared_task
def oops(:
    return 1
