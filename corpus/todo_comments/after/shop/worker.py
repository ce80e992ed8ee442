"""Workers for the shop, with a few things a human must decide."""
from cfq_shim import Celery
# TODO(celery2cfq): CFQ103 cfq_shim does not provide bootsteps (from celery); left on Celery
from celery import bootsteps

app = Celery("shop", broker="cloudflare://")


# TODO(celery2cfq): CFQ302 task option: kept serializer='pickle'; cfq_shim sends JSON only, so arguments must be JSON-serialisable
# TODO(celery2cfq): CFQ301 task option: removed priority= (no meaning on Cloudflare Queues)
@app.task(serializer="pickle")
def render_invoice(order):
    return order


def worker_settings():
    # Ask every worker for its configuration.
    # TODO(celery2cfq): CFQ501 inspect().conf(): not answered by the shim's workers: read app.conf in the worker's code instead
    return app.control.inspect().conf()
