"""Celery's command line, mapped to ``cfq-shim``'s, one word at a time.

Input is the words of one simple command (from a shell line, a YAML list or a Dockerfile exec
form); output is a :class:`Plan`: which words to replace, delete or move, and the findings. The
callers turn the plan into text edits in their own syntax, so quoting, variables, continuations and
everything around the command stay as they were.

Where Celery's options go (``cfq-shim --help`` and the issues that add ``beat``, ``status`` and
``control``):
- ``-A/--app`` is a group option of ``cfq-shim``; after the sub-command (Celery 4's
  ``celery worker --app=proj``) it is moved in front of the sub-command.
- worker: ``-l -c -Q -P -n -f --pidfile --prefetch-multiplier --max-tasks-per-child --time-limit
  --soft-time-limit -B -s -S`` keep their names. Options that mean nothing without a broadcast channel or events are removed (CFQ602);
  those that belong in the app's configuration (time limits, broker) are removed with a finding
  saying where they go (CFQ603); those a process manager does (``--uid``, ``--workdir``) are
  removed with a finding (CFQ604), and ``--detach`` too (CFQ602 where the file is itself run by a
  process manager, CFQ604 in scripts and Makefiles); ``--autoscale`` becomes ``--concurrency`` (CFQ607).
- An option the codemod does not know is kept, with a finding (CFQ605).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Arg", "Plan", "plan_command", "find_program", "subcommand_of", "has_node_pattern", "SHELLS",
           "without_credentials"]

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh"})


@dataclass(frozen=True)
class Arg:
    """One word as the planner sees it: its literal value, or None and the literal prefix."""

    value: str | None
    prefix: str
    #: The word as written (``${CELERY_BIN}``).
    raw: str = ""

    @property
    def text(self) -> str:
        return self.value if self.value is not None else self.prefix


@dataclass
class Plan:
    #: word index -> new value of the whole word
    replace: dict[int, str] = field(default_factory=dict)
    #: word index -> (old literal prefix, new prefix): rename the start of a word, keep the rest
    rename: dict[int, tuple[str, str]] = field(default_factory=dict)
    delete: set[int] = field(default_factory=set)
    #: words moved, in order, to just after the program word
    move_to_front: list[int] = field(default_factory=list)
    #: (word index, code, message)
    findings: list[tuple[int, str, str]] = field(default_factory=list)
    program: int = 0
    foreground: bool = True
    #: systemd and supervisor text: Celery's %h is written %%h (see has_node_pattern)
    percent_doubled: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.replace or self.rename or self.delete or self.move_to_front)


@dataclass(frozen=True)
class _Option:
    names: tuple[str, ...]
    takes_value: bool
    #: keep | remove | rename:<new long name> | pool | scheduler | autoscale | hostname | filename | detach
    action: str = "keep"
    code: str = ""
    why: str = ""


def _opts(*options: _Option) -> dict[str, _Option]:
    return {name: option for option in options for name in option.names}


_NO_BROADCAST = "cfq-shim has no broadcast channel or event stream on Cloudflare Queues, so it is not needed"
_PROCESS_MANAGER = ("cfq-shim runs in the foreground; let the process manager (systemd, supervisor, "
                    "Docker) detach it, write its pid file and set its user")

_GLOBAL = _opts(
    _Option(("-A", "--app"), True),
    _Option(("-b", "--broker"), True, "remove", "CFQ603",
            "set broker_url in the app's configuration (cloudflare://) or CELERY_BROKER_URL in its environment"),
    _Option(("--result-backend",), True, "remove", "CFQ603",
            "set result_backend in the app's configuration"),
    _Option(("--loader",), True, "remove", "CFQ603", "cfq-shim has no loaders; the app configures itself"),
    _Option(("--config",), True, "remove", "CFQ603",
            "load the module from the app with app.config_from_object()"),
    _Option(("--workdir",), True, "remove", "CFQ604",
            "change directory before starting (WorkingDirectory=, directory=, WORKDIR)"),
    _Option(("-q", "--quiet"), False, "remove", "CFQ602", "cfq-shim prints no banner"),
    _Option(("-C", "--no-color"), False, "remove", "CFQ602", "cfq-shim prints no colours"),
    _Option(("--skip-checks",), False, "remove", "CFQ602", "cfq-shim runs no start-up checks to skip"),
)

_WORKER = _opts(
    _Option(("-l", "--loglevel"), True),
    _Option(("-c", "--concurrency"), True),
    _Option(("-Q", "--queues"), True),
    _Option(("-f", "--logfile"), True, "filename"),
    _Option(("--prefetch-multiplier",), True),
    _Option(("--max-tasks-per-child",), True),
    _Option(("--maxtasksperchild",), True, "rename:--max-tasks-per-child"),
    _Option(("-B", "--beat"), False),
    _Option(("-s", "--schedule", "--schedule-filename"), True),
    _Option(("-S", "--scheduler"), True, "scheduler"),
    _Option(("-P", "--pool"), True, "pool"),
    _Option(("-n", "--hostname"), True, "hostname"),
    _Option(("-E", "--task-events"), False, "remove", "CFQ602",
            "Cloudflare Queues has no event stream; cfq-shim inspect reads the queues instead"),
    _Option(("--without-gossip",), False, "remove", "CFQ602", _NO_BROADCAST),
    _Option(("--without-mingle",), False, "remove", "CFQ602", _NO_BROADCAST),
    _Option(("--without-heartbeat",), False, "remove", "CFQ602", _NO_BROADCAST),
    _Option(("--heartbeat-interval",), True, "remove", "CFQ602", _NO_BROADCAST),
    _Option(("-O",), True, "remove", "CFQ602",
            "cfq-shim leases messages per free slot, which is what -O fair asks Celery for"),
    _Option(("--statedb",), True, "remove", "CFQ602",
            "revoked task ids live in the shared store, not in a worker state file"),
    _Option(("--time-limit",), True),
    _Option(("--soft-time-limit",), True),
    _Option(("-I", "--include"), True, "remove", "CFQ603",
            "list the modules in the app's include= or imports setting"),
    _Option(("-X", "--exclude-queues"), True, "remove", "CFQ603",
            "cfq-shim has no exclude list; name the queues to consume with -Q"),
    _Option(("--max-memory-per-child",), True, "remove", "CFQ603",
            "cfq-shim has no memory limit per child; use --max-tasks-per-child or the container's limit"),
    _Option(("-D", "--detach"), False, "detach"),
    _Option(("--pidfile",), True, "filename"),
    _Option(("--uid",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--gid",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--umask",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--executable",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--autoscale",), True, "autoscale"),
)

_BEAT = _opts(
    _Option(("-l", "--loglevel"), True),
    _Option(("-f", "--logfile"), True, "filename"),
    _Option(("-s", "--schedule"), True),
    _Option(("--max-interval",), True),
    _Option(("--pidfile",), True, "filename"),
    _Option(("-S", "--scheduler"), True, "scheduler"),
    _Option(("-D", "--detach"), False, "detach"),
    _Option(("--uid",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--gid",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--umask",), True, "remove", "CFQ604", _PROCESS_MANAGER),
    _Option(("--executable",), True, "remove", "CFQ604", _PROCESS_MANAGER),
)

#: status and inspect's actions: -d and -j as Celery's; they answer from the shared store at once.
_REMOTE = _opts(
    _Option(("-j", "--json"), False),
    _Option(("-d", "--destination"), True),
    _Option(("-t", "--timeout"), True, "remove", "CFQ602",
            "cfq-shim answers from the shared store, without waiting for worker replies"),
)
#: control's actions wait for replies, as Celery's do.
_CONTROL = _opts(
    _Option(("-j", "--json"), False),
    _Option(("-d", "--destination"), True),
    _Option(("-t", "--timeout"), True),
)

_PURGE = _opts(
    _Option(("-f", "--force"), False),
    _Option(("-Q", "--queues"), True),
    _Option(("-X", "--exclude-queues"), True, "remove", "CFQ603",
            "cfq-shim purge has no exclude list; name the queues with -Q"),
)

#: Sub-commands cfq-shim has, with their options; inspect/control only for some actions.
_SUBCOMMANDS: dict[str, dict[str, _Option]] = {
    "worker": _WORKER, "beat": _BEAT, "status": _REMOTE, "inspect": _REMOTE, "control": _CONTROL,
    "purge": _PURGE,
}
_INSPECT_ACTIONS = frozenset({"active", "scheduled", "reserved", "registered", "stats", "ping", "active_queues",
                              "revoked", "query_task"})
_CONTROL_ACTIONS = frozenset({"revoke", "terminate", "shutdown", "rate_limit", "time_limit", "add_consumer",
                              "cancel_consumer"})

#: Celery sub-commands without a cfq-shim counterpart, and what to use instead.
_NO_COUNTERPART = {
    "multi": "run one `cfq-shim -A APP worker -n NODE` per node in the foreground under the process manager "
             "(a systemd unit per node, or a template unit celery@.service, with Type=simple and no "
             "ExecStop/ExecReload; supervisor programs; compose replicas); CELERYD_OPTS still holds its options",
    "flower": "use `cfq-shim -A APP dashboard` for the web view, and `cfq-shim -A APP inspect` for queue depths",
    "events": "Cloudflare Queues has no event stream; use `cfq-shim -A APP inspect` or the dashboard",
    "shell": "use `python -c` or the framework's shell with the app imported",
    "call": "call the task from Python (`task.delay()`), or `cfq-shim` once it has a call command",
    "result": "read results from Python with AsyncResult(id).get()",
    "migrate": "Cloudflare Queues messages cannot be moved between brokers by cfq-shim",
    "upgrade": "the codemod already migrated the settings",
    "graph": "cfq-shim has no graph command",
    "list": "cfq-shim -A APP inspect lists the queues",
    "amqp": "Cloudflare Queues is not AMQP; use `cfq-shim -A APP inspect` and `purge`",
    "report": "cfq-shim --version and pip freeze describe the installation",
    "logtool": "cfq-shim has no log tool",
}
_ALL_SUBCOMMANDS = frozenset(_SUBCOMMANDS) | frozenset(_NO_COUNTERPART)

_POOLS = {"prefork": "prefork", "processes": "prefork", "solo": "solo", "threads": "threads",
          "eventlet": "threads", "gevent": "threads"}
_DJANGO_SCHEDULERS = frozenset({
    "django", "django_celery_beat.schedulers:DatabaseScheduler", "django_celery_beat.schedulers.DatabaseScheduler",
})


_NODE_PATTERN = re.compile(r"%[hndiIp]")


_DOUBLED_NODE_PATTERN = re.compile(r"%%[hndiIp]")


def has_node_pattern(value: str, *, percent_doubled: bool = False) -> bool:
    """Whether a file name or node name holds one of Celery's ``%`` patterns (host, node, process
    index). ``percent_doubled``: the text is a systemd unit's or a supervisor program's, where
    ``%h``, ``%i`` … are their own specifiers and Celery's are written ``%%h``."""
    return bool((_DOUBLED_NODE_PATTERN if percent_doubled else _NODE_PATTERN).search(value))


#: How Celery's systemd docs run it: the program is a variable its environment file sets.
_PROGRAM_VARIABLES = frozenset({"$CELERY_BIN", "${CELERY_BIN}"})


def _is_celery_program(arg: Arg, program_variables: frozenset[str]) -> bool:
    if arg.value is not None:
        return posixpath.basename(arg.value) == "celery"
    raw = arg.raw.strip('"')
    return arg.prefix == "" and (raw in _PROGRAM_VARIABLES or raw in program_variables)


def find_program(args: Sequence[Arg], program_variables: frozenset[str] = frozenset()) -> list[int]:
    """Indexes of words that start a Celery command line (``celery``, ``/venv/bin/celery``,
    ``python -m celery``, ``$CELERY_BIN``, or a variable in ``program_variables`` such as a
    Makefile's ``$(CELERY)``), followed by a Celery sub-command."""
    found = []
    for i, arg in enumerate(args):
        if _is_celery_program(arg, program_variables) or (arg.value == "celery" and i >= 1 and args[i - 1].value == "-m"):
            if _subcommand_index(args, i) is not None:
                found.append(i)
    return found


def subcommand_of(args: Sequence[Arg], program: int) -> str | None:
    """The Celery sub-command of the command line at ``program`` (``worker``, ``multi`` …), or None
    when it is only known at run time."""
    sub = _subcommand_index(args, program)
    return None if sub is None else args[sub].value


def _subcommand_index(args: Sequence[Arg], program: int) -> int | None:
    """Where the sub-command is, after the global options; None when this is not a Celery
    command line (``pip install celery``, ``chown celery:celery``)."""
    i = program + 1
    while i < len(args):
        arg = args[i]
        text = arg.text
        if arg.value is None and arg.prefix == "":
            return i if i > program + 1 else None  # "celery -A proj $COMMAND": dynamic
        if text in _ALL_SUBCOMMANDS and arg.value is not None:
            return i
        if not text.startswith("-"):
            return None
        option = _match(text, _GLOBAL)
        if option is None:
            return None
        value_follows = option[0].takes_value and option[1] is None and arg.value is not None
        i += 2 if value_follows else 1
    return None


def _match(text: str, table: dict[str, _Option]) -> tuple[_Option, str | None, str] | None:
    """(option, inline value or None, the literal text naming the option) for a word."""
    if text.startswith("--"):
        name, eq, value = text.partition("=")
        option = table.get(name)
        if option is None:
            return None
        return option, (value if eq else None), name + eq
    if text.startswith("-") and len(text) >= 2:
        option = table.get(text[:2])
        if option is None:
            return None
        if len(text) == 2:
            return option, None, text
        if option.takes_value:
            rest = text[2:]
            return option, rest[1:] if rest.startswith("=") else rest, text[:2] + ("=" if rest.startswith("=") else "")
    return None


def without_credentials(text: str) -> str:
    """``text`` for a finding: a URL's user and password (``//user:pw@``) left out."""
    return re.sub(r"//[^/@\s]*@", "//…@", text)


def plan_command(args: Sequence[Arg], program: int, *, foreground: bool = True, percent_doubled: bool = False) -> Plan:
    """The plan that turns the Celery command line starting at ``args[program]`` into cfq-shim's.
    ``foreground``: the command runs under a process manager that expects it to stay in the
    foreground (Docker, Kubernetes, supervisor, a Procfile, systemd), so ``--detach`` going leaves
    nothing to do; in a shell script or a Makefile, what came after it now waits for it."""
    plan = Plan(program=program, foreground=foreground, percent_doubled=percent_doubled)
    sub = _subcommand_index(args, program)
    assert sub is not None, "find_program() picks only Celery command lines"
    subcommand = args[sub]
    if subcommand.value is None:
        plan.findings.append((sub, "CFQ609", "the Celery sub-command is only known at run time "
                              f"({subcommand.text or args[sub].prefix or 'a variable'}); rewrite this line by hand"))
        return plan
    name = subcommand.value
    if name in _NO_COUNTERPART:
        plan.findings.append((program, "CFQ608", f"`celery {name}` has no cfq-shim counterpart and is left as it is: "
                              f"{_NO_COUNTERPART[name]}"))
        return plan
    table = _SUBCOMMANDS[name]
    first_option = sub + 1
    if name in ("inspect", "control"):
        action = args[sub + 1] if sub + 1 < len(args) else None
        allowed = _INSPECT_ACTIONS if name == "inspect" else _CONTROL_ACTIONS
        if action is not None and action.text.startswith("-"):
            plan.findings.append((sub + 1, "CFQ609", f"`celery {name}` with options before the action: cfq-shim takes "
                                  f"them after it (cfq-shim {name} ACTION -d …); rewrite this line by hand"))
            return plan
        if action is None or action.value not in allowed:
            what = f"`celery {name} {action.text if action else ''}`".replace(" `", "`")
            plan.findings.append((sub, "CFQ608", f"{what} has no cfq-shim counterpart and is left as it is; cfq-shim "
                                  f"{name} has {', '.join(sorted(allowed))}"))
            return plan
        first_option = sub + 2

    _program_word(args, program, plan)
    # Global options before the sub-command.
    i = program + 1
    while i < sub:
        i = _apply(args, i, _GLOBAL, plan, before_subcommand=True)
    # The sub-command's options (and -A, which Celery 4 allowed after it).
    i = first_option
    while i < len(args):
        arg = args[i]
        if not arg.text.startswith("-"):
            if arg.value is None and arg.prefix == "":
                plan.findings.append((i, "CFQ605", _variable_options_message(arg.raw)))
            i += 1
            continue
        if _match(arg.text, _GLOBAL) is not None and _match(arg.text, table) is None:
            i = _apply(args, i, _GLOBAL, plan, before_subcommand=False)
        else:
            i = _apply(args, i, table, plan, before_subcommand=False, subcommand=name)
    return plan


#: Celery's daemon configuration (its systemd and init-script docs) keeps options in these.
_DAEMON_OPTIONS = ("CELERYD_OPTS", "CELERYBEAT_OPTS", "CELERY_WORKER_OPTS", "CELERY_BEAT_OPTS")


def _variable_options_message(raw: str) -> str:
    name = raw.strip("\"'").lstrip("$").strip("{}")
    if name in _DAEMON_OPTIONS:
        return (f"${name} is set outside this tree (Celery's daemon configuration: /etc/default/celeryd or "
                f"/etc/conf.d/celery on the servers): map its options there as the CFQ602-CFQ607 rules say, or add "
                "that file to the tree and run the codemod again, which then maps them")
    return "options in a variable are only known at run time; check that cfq-shim accepts them"


def _program_word(args: Sequence[Arg], program: int, plan: Plan) -> None:
    word = args[program]
    if word.value is None:  # $CELERY_BIN: the environment file says what it runs
        return
    if program >= 1 and args[program - 1].value == "-m":
        plan.replace[program] = "cfq_shim"
    else:
        head = posixpath.dirname(word.value)
        plan.replace[program] = posixpath.join(head, "cfq-shim") if head else "cfq-shim"


def _apply(args: Sequence[Arg], i: int, table: dict[str, _Option], plan: Plan, *, before_subcommand: bool,
           subcommand: str = "") -> int:
    """Plan the option at ``args[i]``; the index of the next word to look at."""
    arg = args[i]
    matched = _match(arg.text, table)
    if matched is None:
        label = f"celery {subcommand}" if subcommand else "celery"
        plan.findings.append((i, "CFQ605", f"{arg.text.split('=')[0]} is not an option cfq-shim knows for `{label}`; "
                              "it is kept, and cfq-shim will refuse to start until it is removed or replaced"))
        # Its value, if it has one, is the next word that is not an option.
        nxt = i + 1
        if nxt < len(args) and not args[nxt].text.startswith("-") and "=" not in arg.text:
            return nxt + 1
        return i + 1
    option, inline, named = matched
    if arg.value is None and inline is None:
        inline = ""  # "-Q$QUEUES": the value is the expansion, in this word
    value_index = i + 1 if option.takes_value and inline is None and i + 1 < len(args) else None
    words = [i] if value_index is None else [i, value_index]
    value = inline if inline is not None else (args[value_index].value if value_index is not None else None)
    if value_index is not None and args[value_index].value is None:
        value = None
    if inline is not None and arg.value is None:
        value = None  # "--concurrency=$N"
    shown = named.rstrip("=")
    end = (value_index if value_index is not None else i) + 1

    if option.names[0] == "-A" and not before_subcommand:
        plan.move_to_front.extend(words)
        return end
    action = option.action
    if action == "keep":
        return end
    if action.startswith("rename:"):
        new = action.split(":", 1)[1]
        plan.rename[i] = (shown, new)
        return end
    if action == "detach":
        plan.delete.update(words)
        if plan.foreground:
            plan.findings.append((i, "CFQ602", f"`{arg.text}` was removed: cfq-shim stays in the foreground, as the "
                                  "process manager that runs this command expects (a systemd unit's Type=forking "
                                  "becomes Type=simple)"))
        else:
            plan.findings.append((i, "CFQ604", f"`{arg.text}` was removed: cfq-shim stays in the foreground, so what "
                                  "follows it in this script now waits for it; start it with `&`, or under a process "
                                  "manager"))
        return end
    if action == "remove":
        plan.delete.update(words)
        what = without_credentials(" ".join(args[w].text for w in words))  # --broker=redis://:pw@…
        plan.findings.append((i, option.code, f"`{what}` was removed: {option.why}"))
        return end
    if action == "pool":
        if value is None:
            return end
        target = _POOLS.get(value)
        if target is None:
            plan.findings.append((i, "CFQ606", f"the {value!r} pool has no cfq-shim counterpart (prefork, threads, "
                                  "solo); it is kept and must be replaced"))
        elif target != value:
            _set_value(args, plan, i, value_index, named, target)
            if value in ("eventlet", "gevent"):
                plan.findings.append((i, "CFQ606", f"the {value} pool became threads: cfq-shim has no green-thread "
                                      "pool; tasks that rely on monkey-patching need a look, and -c may be lower"))
        return end
    if action == "scheduler":
        if value in _DJANGO_SCHEDULERS:
            if value != "django":
                _set_value(args, plan, i, value_index, named, "django")
        elif value is not None:
            plan.findings.append((i, "CFQ611", f"the beat scheduler {value!r} has no cfq-shim counterpart; cfq-shim "
                                  "beat reads beat_schedule, or django_celery_beat's tables with -S django"))
        return end
    if action in ("hostname", "filename"):
        if value is not None and has_node_pattern(value, percent_doubled=plan.percent_doubled):
            advice = ("give the worker a literal name, or build it where it runs: $(hostname) in a shell, %H in a "
                      "systemd unit" if action == "hostname" else
                      "the file gets that literal name; give one file per process (the process manager knows the "
                      "instance: %i in a systemd template unit)")
            plan.findings.append((i, "CFQ610", f"cfq-shim does not expand Celery's %h, %n, %I … in {shown} {value!r}; "
                                  + advice))
        return end
    if action == "autoscale":
        has_concurrency = any(_match(a.text, {"-c": _WORKER["-c"], "--concurrency": _WORKER["-c"]})
                              for a in args if a.value is not None or a.prefix)
        plan.delete.update(words)
        maximum = value.split(",")[0] if value is not None else None
        if maximum is not None and maximum.isdigit() and not has_concurrency:
            plan.delete.difference_update(words)
            _set_value(args, plan, i, value_index, named, maximum)
            if value_index is None:
                plan.replace[i] = f"--concurrency={maximum}"
            else:
                plan.replace[i] = "--concurrency"
            plan.findings.append((i, "CFQ607", f"--autoscale {value} became --concurrency {maximum}: cfq-shim runs a "
                                  "fixed number of slots, the autoscaler's maximum"))
        else:
            plan.findings.append((i, "CFQ607", "--autoscale was removed: cfq-shim runs a fixed number of slots; "
                                  "set -c to the autoscaler's maximum"))
        return end
    raise AssertionError(action)


def _set_value(args: Sequence[Arg], plan: Plan, flag: int, value_index: int | None, named: str, new: str) -> None:
    if value_index is not None:
        plan.replace[value_index] = new
    else:
        plan.replace[flag] = named + new
