from .tasks import confirm_order, failure_report, restock


def place_orders():
    """What the shop's views send; returns the keys, each ending in a result or a failure."""
    confirm_order.delay("order-1", 1)
    restock.apply_async(args=("isbn-42", "978-0-00"))
    failure_report.apply_async(("report",), countdown=1)
    return ["order-1", "isbn-42", "report"]
