from celery import shared_task


@shared_task
def invoice(order_id):
    return order_id
