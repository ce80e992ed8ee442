from shop.worker import render_invoice


def invoice(order, opts):
    render_invoice.apply_async((order,), **opts)
    return render_invoice.delay(order).get(timeout=10)
