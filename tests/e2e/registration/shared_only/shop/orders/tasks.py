from celery import shared_task


@shared_task
def place_order(order_id):
    return order_id


@shared_task(name="orders.cancel")
def cancel_order(order_id):
    return order_id
