from newsletter.tasks import render, send_welcome, unsubscribe


def place_orders():
    """Sends one of each kind of call; returns the keys, each of which ends in a result or a failure."""
    send_welcome.delay("welcome", "ada@example.com", 1)
    send_welcome.apply_async(args=("welcome-bounced", "bob@example.com"), kwargs={"bounces": 9})
    render.apply_async(("render", "Hello {name}"), {"name": "Ada"}, countdown=1)
    unsubscribe.delay("unsubscribe")
    return ["welcome", "welcome-bounced", "render", "unsubscribe"]
