from celery import shared_task


@shared_task
def restock(sku):
    return sku
