from cfq_shim import shared_task


@shared_task
def cleanup():
    return None
