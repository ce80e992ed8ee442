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


def busy_workers():
    # Ask every worker what it is doing.
    # TODO(celery2cfq): CFQ501 app.control (inspect/revoke/broadcast) has no equivalent on Cloudflare Queues
    return app.control.inspect().active()
