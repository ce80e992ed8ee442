from celery import shared_task


@shared_task
def audit_day(day):
    return day
