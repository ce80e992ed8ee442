from .tasks import greet, ping_upstream


def place_orders():
    """What the app's request handlers send; returns the keys, each ending in a result or a failure."""
    greet.delay("greet", "Ada")
    greet.apply_async(("greet-later", "Bob"), countdown=1)
    ping_upstream.delay("ping")
    return ["greet", "greet-later", "ping"]
