"""Broker URLs become the shim's broker (``cloudflare://`` unless ``--broker`` says otherwise).

A ``redis://``, ``amqp://``, ``sqs://``… broker cannot serve ``cfq_shim``. The URL is replaced whole,
so credentials in it are never copied into the new code; the Cloudflare credentials come from the
environment (``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_ACCOUNT_ID``). A broker read from the environment
keeps its variable but gets the new default, and a finding (CFQ202) says the deployment must change
too. A scheme kombu does not know (a custom transport) is reported (CFQ206) and left alone.
"""

from __future__ import annotations

import libcst as cst

from ._base import Example, FileContext, Rule, dotted_name, keyword_name, quoted_like, string_value
from ._settings import SettingEdit, SettingSite, setting_handler

__all__ = ["handle_setting", "RULES"]

RULES = (
    Rule(
        code="CFQ201",
        name="broker-url",
        title="Broker URLs become the shim's broker",
        description=(
            "A literal broker URL for a kombu transport (`redis://`, `amqp://`, `sqs://`, …), also as the "
            "default of an environment read, is replaced whole by `--broker` (default `cloudflare://`). "
            "`cloudflare://`, `sqlite://` and `memory://` are left as they are. Flask's pattern counts too: "
            "when the app reads `config_from_object(app.config[\"CELERY\"])`, the mappings stored under that "
            "key (`from_mapping(CELERY=dict(...))`, `config.update`, `app.config[\"CELERY\"] = {...}`, a config "
            "class's `CELERY = {...}`) are Celery settings."
        ),
        rewrites=True,
        examples=(
            Example(
                before="from celery import Celery\n\napp = Celery('proj', broker='redis://:secret@localhost:6379/0')\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj', broker='cloudflare://')\n",
            ),
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj')\napp.conf.broker_url = 'amqp://guest@rabbit//'\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj')\napp.conf.broker_url = 'cloudflare://'\n",
            ),
            Example(
                path="web/__init__.py",
                before="app.config.from_mapping(CELERY=dict(broker_url='redis://localhost'))\n",
                after="app.config.from_mapping(CELERY=dict(broker_url='cloudflare://'))\n",
                files=(("web/worker.py", "from celery import Celery\n\n\ndef init(app):\n    celery_app = Celery(app.name)\n    celery_app.config_from_object(app.config['CELERY'])\n"),),
            ),
        ),
    ),
    Rule(
        code="CFQ202",
        name="broker-from-environment",
        title="The broker URL comes from the environment or another expression",
        description=(
            "The code cannot show the URL the app will use. A literal default is replaced (CFQ201), but the "
            "variable itself must be set to `cloudflare://` (or removed) where the app is deployed, together "
            "with `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_ACCOUNT_ID`."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="import os\nfrom celery import Celery\n\napp = Celery('proj', broker=os.environ.get('BROKER_URL', 'redis://localhost'))\n",
                after="import os\nfrom cfq_shim import Celery\n\napp = Celery('proj', broker=os.environ.get('BROKER_URL', 'cloudflare://'))\n",
            ),
        ),
    ),
    Rule(
        code="CFQ206",
        name="unknown-transport",
        title="A broker URL with a transport the codemod does not know",
        description=(
            "Custom kombu transports and unknown schemes are left alone: decide by hand whether the "
            "transport's features are needed, then set the broker to `cloudflare://`."
        ),
        examples=(
            Example(
                path="proj/celery.py",
                before="from celery import Celery\n\napp = Celery('proj', broker='myco.transport://queue')\n",
                after="from cfq_shim import Celery\n\napp = Celery('proj', broker='myco.transport://queue')\n",
            ),
        ),
    ),
)

BROKER_KEYS = frozenset({"broker_url", "broker_read_url", "broker_write_url"})

#: Schemes the shim serves itself: left alone.
SHIM_SCHEMES = frozenset({"cloudflare", "sqlite", "memory"})

#: kombu's transport aliases (kombu 5.7), the brokers a Celery project can name.
KOMBU_TRANSPORTS = frozenset({
    "amqp", "amqps", "pyamqp", "librabbitmq", "redis", "rediss", "sentinel", "sqs", "slmq",
    "sqla", "sqlalchemy", "mongodb", "zookeeper", "filesystem", "qpid", "consul", "etcd",
    "azurestoragequeues", "azureservicebus", "gcpubsub", "confluentkafka", "kafka", "pyro", "pgmq",
})

#: Environment readers whose second argument (or ``default=``) is the fallback value.
_ENV_READERS = ("environ.get", "getenv", "environ.setdefault")
_ENV_LIBRARIES = frozenset({"env", "env.str", "env.url", "config", "decouple.config"})


def classify_url(url: str) -> str:
    """'shim', 'replace' or 'unknown' for a broker URL (or a ';'-separated failover list)."""
    first = url.split(";")[0].strip()
    scheme = first.split("://", 1)[0].lower() if "://" in first else first.lower()
    transport = scheme.split("+", 1)[0]
    if transport in SHIM_SCHEMES:
        return "shim"
    if transport in KOMBU_TRANSPORTS:
        return "replace"
    return "unknown"


def _leading_text(node: cst.BaseExpression) -> str | None:
    """The literal text a string expression starts with (enough to see the scheme)."""
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.ConcatenatedString):
        return _leading_text(node.left)  # type: ignore[arg-type]
    if isinstance(node, cst.FormattedString):
        leading = []
        for part in node.parts:
            if not isinstance(part, cst.FormattedStringText):
                break
            leading.append(part.value)
        return "".join(leading) if leading else None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _leading_text(node.left)
    return None


def _env_default(call: cst.Call) -> tuple[str | None, int | None]:
    """(variable name, index of the default argument) for a recognised environment read."""
    func = dotted_name(call.func) or ""
    if not (func.endswith(_ENV_READERS) or func in _ENV_LIBRARIES) or not call.args:
        return None, None
    variable = string_value(call.args[0].value)
    for i, arg in enumerate(call.args):
        if keyword_name(arg) == "default" or (i == 1 and arg.keyword is None and arg.star == ""):
            return variable, i
    return variable, None


def rewrite_url(value: cst.BaseExpression, site: SettingSite, ctx: FileContext) -> cst.BaseExpression | None:
    text = _leading_text(value)
    if text is not None:
        verdict = classify_url(text)
        if verdict == "replace":
            return quoted_like(value, ctx.options.broker) if ctx.enabled("CFQ201") else None
        if verdict == "unknown":
            # Only the scheme: the rest of a URL may hold credentials, which never go into reports.
            scheme = repr(text.split("://", 1)[0]) if "://" in text else "(a URL without a scheme)"
            ctx.report(site.node, "CFQ206", f"{site.spelling}: unknown transport {scheme}; left as it is")
        return None
    if isinstance(value, cst.Call):
        variable, default_at = _env_default(value)
        if variable is not None or default_at is not None:
            where = f"environment variable {variable}" if variable else "the environment"
            ctx.report(site.node, "CFQ202", f"{site.spelling} is read from {where}: set it to {ctx.options.broker} where the app runs")
            if default_at is None:
                return None
            default = value.args[default_at].value
            new_default = rewrite_url(default, site, ctx)
            if new_default is None:
                return None
            args = list(value.args)
            args[default_at] = args[default_at].with_changes(value=new_default)
            return value.with_changes(args=args)
    if isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.Or):
        # ``os.environ.get("X") or "redis://..."``: each side on its own.
        left, right = rewrite_url(value.left, site, ctx), rewrite_url(value.right, site, ctx)
        if left is None and right is None:
            return None
        return value.with_changes(left=left or value.left, right=right or value.right)
    if isinstance(value, (cst.List, cst.Tuple)):
        ctx.report(site.node, "CFQ202", f"{site.spelling} is a list of URLs: replace it with {ctx.options.broker} by hand")
    elif not isinstance(value, cst.Name) or value.value != "None":
        ctx.report(site.node, "CFQ202", f"{site.spelling} comes from {_describe(value)}: make sure it is {ctx.options.broker} where the app runs")
    return None


def _describe(value: cst.BaseExpression) -> str:
    """A short description of an expression that never repeats a literal (it may hold secrets)."""
    if isinstance(value, cst.Subscript):
        key = value.slice[0].slice if len(value.slice) == 1 else None
        name = string_value(key.value) if isinstance(key, cst.Index) else None
        owner = dotted_name(value.value)
        if owner and name and name.isidentifier():
            return f"{owner}[{name!r}]"
        return f"{owner}[...]" if owner else "an expression"
    if isinstance(value, cst.Call):
        callee = dotted_name(value.func)
        return f"{callee}(...)" if callee else "an expression"
    return dotted_name(value) or "an expression"


@setting_handler(order=20)
def handle_setting(site: SettingSite, ctx: FileContext) -> SettingEdit | None:
    if site.key not in BROKER_KEYS:
        return None
    new_value = rewrite_url(site.value, site, ctx)
    return SettingEdit(value=new_value) if new_value is not None else None
