"""Sends the calls the end-to-end test compares and prints what they answered, as one JSON line."""

import json

from proj.tasks import crunch, explode, fan_in, mul, status

answers = {"unknown": status("never-sent")}
first = crunch.delay(7)
answers["get"] = first.get(timeout=60)
answers["status"] = status(first.id)
failing = explode.delay("missing")
try:
    failing.get(timeout=60)
except Exception as exc:
    answers["raised"] = [type(exc).__name__, list(exc.args)]
answers["failed"] = status(failing.id)
answers["chord"] = fan_in(range(8)).get(timeout=60)
answers["starmap"] = mul.starmap([(2, 2), (3, 3)]).delay().get(timeout=60)
print(json.dumps(answers, sort_keys=True))
