from datetime import datetime, timedelta, timezone

from shop.tasks import add, charge, explode, fetch_rates, label, pack


def place_orders():
    """Sends one of each kind of call; returns the keys, each of which ends in a result or a failure."""
    add.delay("sum", 2, 3)
    add.apply_async(("later", 10, 20), countdown=1)
    charge.delay("card-ok", 2)
    charge.apply_async(kwargs={"key": "card-declined", "failures": 5})
    fetch_rates.apply_async(args=("rates", 1))
    fetch_rates.delay("rates-down", 9)
    explode.delay("bad-order")
    in_a_second = datetime.now(timezone.utc) + timedelta(seconds=1)
    add.apply_async(kwargs={"key": "at-eta", "x": 1, "y": 1}, eta=in_a_second)
    label.apply_async(("label",), task_id="label-0001", headers={"tenant": "acme"})
    return ["sum", "later", "card-ok", "card-declined", "rates", "rates-down", "bad-order", "at-eta", "label"]


def pack_parcels():
    """A slow batch: each parcel takes a second to pack."""
    keys = [f"parcel-{number}" for number in range(4)]
    for key in keys:
        pack.delay(key, 1.0)
    return keys
