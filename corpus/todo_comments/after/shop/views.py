from shop.worker import render_invoice


def invoice(order, opts):
    # TODO(celery2cfq): CFQ402 .apply_async(): options passed with ** cannot be checked; make sure none is priority/exchange/routing_key
    render_invoice.apply_async((order,), **opts)
    # TODO(celery2cfq): CFQ502 result .get() but no result backend is configured; cfq_shim stores no results
    return render_invoice.delay(order).get(timeout=10)
