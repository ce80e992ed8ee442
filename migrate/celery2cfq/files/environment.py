"""Celery's environment variables: the broker URL, ``CELERY_BIN`` and ``CELERYD_OPTS``.

- ``CELERY_BROKER_URL`` (also ``BROKER_URL``, ``CELERY_BROKER``, ``CELERY_BROKER_READ_URL``/``_WRITE_URL``)
  holding a kombu broker (``redis://``, ``amqp://``, ``sqs://`` …) becomes the run's broker
  (``cloudflare://`` unless ``--broker`` says otherwise), with a finding that lists the variables
  the runtime needs. The old URL, credentials included, is dropped whole; no token is ever written.
- ``CELERY_BIN=/usr/bin/celery`` (Celery's systemd and init-script docs) names ``cfq-shim``.
- ``CELERYD_OPTS``/``CELERY_WORKER_OPTS`` and ``CELERYBEAT_OPTS``/``CELERY_BEAT_OPTS`` hold worker or
  beat options: mapped like options on a command line.
"""

from __future__ import annotations

import posixpath
import re

from ..fixers.broker import classify_url
from ..model import Options
from .celery_cli import Arg, find_program, has_node_pattern, plan_command, without_credentials
from .commands import shell_edits
from .edits import Edit, Note, Text
from .shell import ShellSyntaxError, Word, lex, simple_commands

__all__ = ["BROKER_VARIABLES", "OPTIONS_VARIABLES", "rewrite_assignment", "is_celery_variable",
           "assigned_option_variables", "expansion_name"]

BROKER_VARIABLES = frozenset({
    "CELERY_BROKER_URL", "BROKER_URL", "CELERY_BROKER", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL",
})
OPTIONS_VARIABLES = {
    "CELERYD_OPTS": "worker", "CELERY_WORKER_OPTS": "worker", "CELERYBEAT_OPTS": "beat", "CELERY_BEAT_OPTS": "beat",
}
_BIN_VARIABLES = frozenset({"CELERY_BIN"})
#: File names of Celery's daemon configuration, which celery multi and the worker expand (%n, %I).
FILE_VARIABLES = frozenset({"CELERYD_LOG_FILE", "CELERYD_PID_FILE", "CELERYBEAT_LOG_FILE", "CELERYBEAT_PID_FILE"})


def assigned_option_variables(text: str) -> frozenset[str]:
    """The option variables (``CELERYD_OPTS`` …) that shell-like ``text`` assigns (``NAME=…``,
    ``export NAME=…``, systemd's ``Environment="NAME=…"``)."""
    if "OPTS" not in text:
        return frozenset()
    try:
        tokens = lex(text)
    except ShellSyntaxError:
        return frozenset()
    found = set()
    for words in simple_commands(tokens):
        for word in words:
            name = (word.value or word.prefix).removeprefix("Environment=").partition("=")
            if name[1] and name[0] in OPTIONS_VARIABLES:
                found.add(name[0])
    return frozenset(found)


def expansion_name(source: str, offset: int) -> str | None:
    """The variable of a word that is one expansion (``$CELERYD_OPTS``, ``${CELERYD_OPTS}``,
    ``"$CELERYD_OPTS"``) starting at ``offset``; None for any other word."""
    word = source[offset:offset + 100].split(None, 1)[0] if source[offset:offset + 100].strip() else ""
    word = word.strip("\"'")
    if word.startswith("${") and word.endswith("}"):
        word = "$" + word[2:-1]
    name = word[1:]
    return name if word.startswith("$") and name.isidentifier() else None


def is_celery_variable(name: str) -> bool:
    return (name in BROKER_VARIABLES or name in OPTIONS_VARIABLES or name in _BIN_VARIABLES
            or name in FILE_VARIABLES)


def cloudflare_variables_message(name: str, broker: str) -> str:
    needs = ""
    if broker.startswith("cloudflare://"):
        needs = ("; cfq-shim reads CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID (and CLOUDFLARE_BASE_URL for "
                 "the local stand-in) from the environment: set them in the deployment's secret store, never in "
                 "a file in the repository")
    return f"{name} now names {broker} (the old URL, with any credentials in it, was dropped){needs}"


#: ``${NAME:-default}`` / ``${NAME-default}``: a variable with a default (shell, compose).
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)([^{}]+)\}")


def rewrite_assignment(name: str, value: Text, options: Options, *, quoted: str = "") -> tuple[list[Edit], list[Note]]:
    """Edits for ``NAME=value`` where ``value`` is the text after ``=`` (without the quotes it
    had, ``quoted`` being that quote character, if any)."""
    where = value.positions[0]
    if name in BROKER_VARIABLES:
        fallback = _DEFAULTED.fullmatch(value.value)
        verdict = classify_url(fallback.group(3)) if fallback is not None and "$" not in fallback.group(3) else None
        if verdict == "shim":  # ${CELERY_BROKER_URL:-cloudflare://}: migrated (by a first run, or by hand)
            return [], []
        if fallback is not None and verdict == "replace":
            # ${CELERY_BROKER_URL:-redis://redis:6379/0} (compose, shell): the default is ours to change.
            start, end = fallback.span(3)
            message = cloudflare_variables_message(name, options.broker)
            return [Edit(*value.span(start, end), options.broker)], [Note(where, "CFQ701", (
                f"{message}; the default of ${{{fallback.group(1)}}} became {options.broker}: where "
                f"{fallback.group(1)} is set, set it to {options.broker} too"))]
        leading = value.value.split("$", 1)[0]
        if "$" in value.value and not ("://" in leading and classify_url(leading) == "replace"):
            return [], [Note(where, "CFQ702", f"{name} comes from another variable ({without_credentials(value.value)}); "
                             f"make it {options.broker} where that variable is set")]
        verdict = classify_url(leading)  # redis://:${REDIS_PASSWORD}@redis: Redis all the same
        if verdict == "replace":
            span = value.span(0, len(value.value)) if value.value else (where, where)
            return [Edit(*span, options.broker)], [Note(where, "CFQ701", cloudflare_variables_message(name, options.broker))]
        if verdict == "unknown" and value.value:
            return [], [Note(where, "CFQ702", f"{name} names a broker the codemod does not know; cfq-shim serves "
                             f"cloudflare://, sqlite:// and memory://")]
        return [], []
    if name in _BIN_VARIABLES:
        if posixpath.basename(value.value) == "celery":
            head = posixpath.dirname(value.value)
            new = posixpath.join(head, "cfq-shim") if head else "cfq-shim"
            return [Edit(*value.span(0, len(value.value)), new)], []
        return [], []
    if name in FILE_VARIABLES:
        if has_node_pattern(value.value):
            return [], [Note(where, "CFQ610", f"{name}={value.value}: cfq-shim does not expand Celery's %n, %I, %h … in "
                             "file names (celery multi and the worker did); give each process its own literal file")]
        return [], []
    subcommand = OPTIONS_VARIABLES.get(name)
    if subcommand is not None:
        return _rewrite_options(value, subcommand)
    return [], []


def _rewrite_options(value: Text, subcommand: str) -> tuple[list[Edit], list[Note]]:
    try:
        tokens = lex(value.value)
    except ShellSyntaxError:
        return [], [Note(value.positions[0], "CFQ609", "could not read these options as shell words; left as they are")]
    commands = simple_commands(tokens)
    if len(commands) != 1:
        return [], []
    words = commands[0]
    fake = [Word(0, 0, "celery", "celery", "celery"), Word(0, 0, subcommand, subcommand, subcommand)]
    args = [Arg("celery", "celery"), Arg(subcommand, subcommand)] + [Arg(w.value, w.prefix, w.raw) for w in words]
    if find_program(args) != [0]:
        return [], []
    plan = plan_command(args, 0)
    plan.replace.pop(0, None)
    notes = [Note(value.after(words[i - 2].start + 1) - 1, code, message) for i, code, message in plan.findings if i >= 2]
    if plan.move_to_front:  # -A in the options: it belongs before the sub-command, where the unit puts $CELERY_APP
        for i in plan.move_to_front:
            plan.delete.add(i)
        notes.append(Note(value.positions[0], "CFQ605", "-A/--app was removed from the options: cfq-shim takes it "
                          "before the sub-command (cfq-shim -A APP worker); check the command line that uses them"))
        plan.move_to_front = []
    edits = shell_edits(value, fake + list(words), plan) if plan.changes else []
    return edits, notes
