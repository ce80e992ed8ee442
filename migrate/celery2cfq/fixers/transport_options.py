"""``broker_transport_options``: ``visibility_timeout`` becomes the shim's lease setting.

On Redis and SQS, ``visibility_timeout`` is how long a received message stays hidden before it is
delivered again. The shim's equivalent is the lease on a pulled message, set with
``broker_visibility_timeout`` in seconds, as Celery has it. The other transport options belong to the
old broker (Redis key prefixes, SQS regions and credentials, AMQP confirms) and have no equivalent:
when the setting is rewritten they are dropped, and named in a finding (CFQ205); when there is no
``visibility_timeout`` to carry over, the setting is kept and reported.
"""

from __future__ import annotations

import libcst as cst

from ._base import Example, FileContext, Rule, string_value
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["handle_setting", "RULES"]

RULES = (
    Rule(
        code="CFQ204",
        name="visibility-timeout",
        title="`visibility_timeout` becomes `broker_visibility_timeout`",
        description=(
            "A literal `broker_transport_options` dict with a `visibility_timeout` is replaced by the shim's "
            "`broker_visibility_timeout` setting (seconds), in the same style (keyword, key, `CELERY_` name)."
        ),
        rewrites=True,
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\napp.conf.update(broker_transport_options={'visibility_timeout': 3600})\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\napp.conf.update(broker_visibility_timeout=3600)\n",
            ),
        ),
    ),
    Rule(
        code="CFQ205",
        name="transport-option-without-equivalent",
        title="A broker transport option without an equivalent",
        description=(
            "Options of the old broker's transport that Cloudflare Queues has no use for. Dropped when the "
            "setting is rewritten by CFQ204, else kept and reported; check that nothing relied on them."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\napp.conf.broker_transport_options = {'visibility_timeout': 60, 'region': 'eu-west-1'}\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\napp.conf.broker_visibility_timeout = 60\n",
            ),
        ),
    ),
)

KEY = "broker_transport_options"
NEW_KEY = "broker_visibility_timeout"


@setting_handler(order=10)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key != KEY:
        return None
    value = site.value
    if not isinstance(value, cst.Dict):
        ctx.report(site.node, "CFQ205", f"{site.spelling} is not a literal dict: map visibility_timeout to {NEW_KEY} by hand")
        return None
    keys = [string_value(e.key) if isinstance(e, cst.DictElement) else None for e in value.elements]
    timeout = next((e for e, k in zip(value.elements, keys) if k == "visibility_timeout"), None)
    others = sorted(str(k) for k in keys if k != "visibility_timeout")
    if timeout is None or not ctx.enabled("CFQ204"):
        ctx.report(site.node, "CFQ205", f"{site.spelling}: no equivalent on Cloudflare Queues for {', '.join(others) or 'these options'}; kept")
        return None
    if others:
        ctx.report(site.node, "CFQ205", f"{site.spelling}: dropped {', '.join(others)} (no equivalent on Cloudflare Queues)")
    assert isinstance(timeout, cst.DictElement)
    return SettingEdit(key=NEW_KEY, value=timeout.value)
