"""Workers for the shop, with a few things a human must decide."""
from celery import Celery, bootsteps

app = Celery("shop", broker="redis://localhost:6379/0")


@app.task(serializer="pickle", priority=3)
def render_invoice(order):
    return order


def worker_settings():
    # Ask every worker for its configuration.
    return app.control.inspect().conf()
