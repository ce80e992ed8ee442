from celery import shared_task


@shared_task
def refresh_inbox(user_id):
    return user_id
