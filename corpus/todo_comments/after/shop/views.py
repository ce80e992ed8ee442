from shop.worker import render_invoice


def invoice(order, opts):
    # TODO(celery2cfq): CFQ402 .apply_async(): options passed with ** cannot be checked; make sure none is priority/exchange/routing_key
    render_invoice.apply_async((order,), **opts)
    # TODO(celery2cfq): CFQ502 .get() needs a result backend, and none is configured: cfq_shim raises there; set result_backend (sqlite:///path on one machine, redis:// or d1:// across machines)
    return render_invoice.delay(order).get(timeout=10)
