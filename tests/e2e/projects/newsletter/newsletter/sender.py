from datetime import datetime, timedelta, timezone

from newsletter.tasks import render, send_welcome, unsubscribe


def place_orders():
    """Sends one of each kind of call; returns the keys, each ending in a result, failure or revocation."""
    send_welcome.delay("welcome", "ada@example.com", 1)
    send_welcome.apply_async(args=("welcome-bounced", "bob@example.com"), kwargs={"bounces": 9})
    render.apply_async(("render", "Hello {name}"), {"name": "Ada"}, countdown=1)
    unsubscribe.delay("unsubscribe")
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    send_welcome.apply_async(("too-late", "eve@example.com"), expires=an_hour_ago)
    return ["welcome", "welcome-bounced", "render", "unsubscribe", "too-late"]
