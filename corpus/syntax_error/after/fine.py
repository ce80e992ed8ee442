from cfq_shim import shared_task


@shared_task
def fine():
    return 1
