"""Formats whose commands are shell text: shell scripts, Procfiles, Makefiles, systemd units,
supervisor programs, Dockerfiles, and environment files (``.env``, ``EnvironmentFile=``).

Each function takes the file's text and returns edits and findings; the commands in it are
rewritten by :func:`~.commands.rewrite_shell`, the variables by
:func:`~.environment.rewrite_assignment`. Nothing outside those spans is touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from json.decoder import scanstring

from ..model import Options, SourceError
from . import _is_shell_script
from .commands import ChainedWordList, ListItem, celery_subcommands, programs_in, rewrite_program_only, rewrite_shell, rewrite_word_list
from .edits import Edit, Note, Text
from .environment import BROKER_VARIABLES, is_celery_variable, rewrite_assignment
from .shell import ShellSyntaxError, lex, simple_commands

__all__ = ["shell_script", "procfile", "makefile", "systemd_unit", "supervisor_conf", "dockerfile", "env_file"]

Result = tuple[list[Edit], list[Note]]


def _lines(source: str) -> Iterator[tuple[int, str]]:
    """(offset, line without its newline) for each line."""
    offset = 0
    for line in source.split("\n"):
        yield offset, line
        offset += len(line) + 1


def _logical_lines(source: str) -> Iterator[tuple[int, str]]:
    """Lines joined by a trailing backslash (systemd, supervisor, Dockerfile, make)."""
    start, parts = None, []
    for offset, line in _lines(source):
        if start is None:
            start = offset
        parts.append(line)
        if line.endswith("\\") and not line.endswith("\\\\"):
            continue
        yield start, "\n".join(parts)
        start, parts = None, []
    if parts and start is not None:
        yield start, "\n".join(parts)


def shell_script(source: str, options: Options) -> Result:
    try:
        lex(source)
    except ShellSyntaxError as exc:
        line = source.count("\n", 0, exc.offset) + 1
        raise SourceError(f"line {line}: could not read the shell script ({exc})") from None
    programs = _shell_program_variables(source)
    spellings = {f"${name}": name for name in programs} | {f"${{{name}}}": name for name in programs}
    edits, notes = rewrite_shell(Text.at(source, 0), program_variables=frozenset(spellings), foreground=False)
    edits += [programs[spellings[raw]] for raw in sorted(programs_in(source, frozenset(spellings)))]
    more_edits, more_notes = _assignments(source, options)
    return edits + more_edits, notes + more_notes


def _shell_program_variables(source: str) -> dict[str, Edit]:
    """``CELERY=/venv/bin/celery`` (also after ``export``/``readonly``/``local``): the variable and
    the edit that makes it name cfq-shim, used when the script runs ``$CELERY`` as Celery."""
    found: dict[str, Edit] = {}
    for words in simple_commands(lex(source)):
        first = words[0].value
        assignments = words[1:] if first in ("export", "readonly", "local", "declare") else words
        if not assignments or not all("=" in (w.prefix or "") for w in assignments):
            continue
        for word in assignments:
            name, _, _ = word.raw.partition("=")
            if not name.isidentifier() or is_celery_variable(name):  # CELERY_BIN: rewritten as a Celery variable
                continue
            value_start = word.start + len(name) + 1
            rename = _program_rename(source[value_start:word.end].strip("\"'"), value_start + (
                1 if source[value_start:value_start + 1] in "\"'" else 0))
            if rename is not None:
                found[name] = rename
    return found


def _assignments(source: str, options: Options, base: int = 0) -> Result:
    """``NAME=value`` words (also after ``export``) for the Celery variables."""
    edits: list[Edit] = []
    notes: list[Note] = []
    try:
        tokens = lex(source)
    except ShellSyntaxError:
        return [], []
    for words in simple_commands(tokens):
        for word in words:
            start, end = word.start, word.end
            raw = word.raw
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and raw.count(raw[0]) == 2:
                start, end, raw = start + 1, end - 1, raw[1:-1]  # systemd: Environment="NAME=value"
            name, eq, _ = raw.partition("=")
            if not eq or not is_celery_variable(name):
                continue
            value = _assignment_value(source, start + len(name) + 1, end, base)
            if value is None:
                code, what = ("CFQ702", f"make it {options.broker}") if name in BROKER_VARIABLES else (
                    "CFQ609", "rewrite it")
                notes.append(Note(base + start + len(name) + 1, code, f"the value of {name} has quotes or escapes "
                                  f"the codemod does not read; {what} by hand"))
                continue
            e, n = rewrite_assignment(name, value, options)
            edits += e
            notes += n
    return edits, notes


def _assignment_value(source: str, start: int, end: int, base: int) -> Text | None:
    raw = source[start:end]
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and raw.count(raw[0]) == 2 and (
            "\\" not in (raw.replace("\\\n", "") if raw[0] == '"' else raw)):  # "… \⏎ …": a continued value
        return Text.at(raw[1:-1], base + start + 1)
    if not any(c in raw for c in "'\"\\"):
        return Text.at(raw, base + start)
    return None


def env_file(source: str, options: Options) -> Result:
    try:
        lex(source)
    except ShellSyntaxError as exc:
        line = source.count("\n", 0, exc.offset) + 1
        raise SourceError(f"line {line}: could not read the environment file ({exc})") from None
    return _assignments(source, options)


_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):[ \t]*")


def procfile(source: str, options: Options) -> Result:
    edits: list[Edit] = []
    notes: list[Note] = []
    for offset, line in _lines(source):
        match = _PROCFILE_LINE.match(line)
        if match is None:
            continue
        e, n = rewrite_shell(Text.at(line[match.end():], offset + match.end()))
        edits += e
        notes += n
    return edits, notes


_MAKE_ASSIGNMENT = re.compile(r"^(?:(?:export|override)[ \t]+)*([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?:::?=|:::=|\?=|\+=|=)[ \t]*")


def makefile(source: str, options: Options) -> Result:
    """Recipe lines (they start with a tab), joined by trailing backslashes; and variables that
    hold the celery program (``CELERY = $(VENV)/bin/celery``, run as ``$(CELERY) -A proj worker``),
    renamed where they are set when a recipe runs them as Celery."""
    edits: list[Edit] = []
    notes: list[Note] = []
    recipes: list[Text] = []
    programs: dict[str, Edit] = {}
    for offset, text in _logical_lines(source):
        if not text.startswith("\t"):
            match = _MAKE_ASSIGNMENT.match(text)
            if match is not None:
                rename = _program_rename(text[match.end():], offset + match.end())
                if rename is not None:
                    programs[match.group(1)] = rename
            continue
        body = text.lstrip("\t")
        skip = len(text) - len(body)
        while body[:1] in ("@", "-", "+") and body:
            body, skip = body[1:], skip + 1
        recipes.append(Text.at(body, offset + skip))
    spellings = {f"$({name})": name for name in programs} | {f"${{{name}}}": name for name in programs}
    used: set[str] = set()
    for recipe in recipes:
        e, n = rewrite_shell(recipe, program_variables=frozenset(spellings), foreground=False)
        edits += e
        notes += n
        used |= {spellings[raw] for raw in programs_in(recipe.value, frozenset(spellings))}
    edits += [programs[name] for name in sorted(used)]
    return edits, notes


def _program_rename(value: str, base: int) -> Edit | None:
    """The edit that makes a variable's value run cfq-shim, when the value is the celery program
    (``celery``, ``$(VENV)/bin/celery``, ``python -m celery``, possibly followed by global options)."""
    value = value.split("#", 1)[0]
    try:
        words = [w for command in simple_commands(lex(value)) for w in command]
    except ShellSyntaxError:
        return None
    for k, word in enumerate(words):
        if word.raw.rsplit("/", 1)[-1] == "celery":
            new = "cfq_shim" if k and words[k - 1].raw == "-m" else "cfq-shim"
            if new == "cfq-shim" and k:
                return None  # "celery" in some other position: not the program
            start = base + word.end - len("celery")
            return Edit(start, base + word.end, new)
    return None


_SYSTEMD_EXEC = re.compile(r"^(ExecStart|ExecStartPre|ExecStartPost|ExecReload|ExecStop|ExecStopPost)=([-@:+!]*)")
_SYSTEMD_ENV = re.compile(r"^Environment=")


_SYSTEMD_FORKING = re.compile(r"^Type=forking[ \t]*$")


def systemd_unit(source: str, options: Options) -> Result:
    """``Exec*=`` and ``Environment=`` lines. A ``Type=forking`` unit whose ``ExecStart=`` runs a
    Celery worker or beat becomes ``Type=simple``: cfq-shim never forks, and systemd would wait for
    it to (``celery multi`` is left, with its finding, and so is its unit's type)."""
    edits: list[Edit] = []
    notes: list[Note] = []
    forking: int | None = None
    starts: set[str | None] = set()
    for offset, text in _logical_lines(source):
        match = _SYSTEMD_EXEC.match(text)
        if _SYSTEMD_FORKING.match(text):
            forking = offset
            continue
        if match is not None:
            command = Text.at(text[match.end():], offset + match.end())
            e, n = rewrite_shell(command, percent_doubled=True)
            if match.group(1) == "ExecStart":
                starts |= celery_subcommands(command)
        elif _SYSTEMD_ENV.match(text):
            start = len("Environment=")
            e, n = _assignments(text[start:], options, base=offset + start)
        else:
            continue
        edits += e
        notes += n
    if forking is not None and starts and starts <= {"worker", "beat"}:
        at = forking + len("Type=")
        edits.append(Edit(at, at + len("forking"), "simple"))
        notes.append(Note(forking, "CFQ601", "Type=forking became Type=simple: cfq-shim stays in the foreground, "
                          "where systemd tracks it"))
    return edits, notes


def supervisor_conf(source: str, options: Options) -> Result:
    """``command=`` in ``[program:…]`` sections (supervisor splits it with shlex) and
    ``environment=KEY="value",…``."""
    edits: list[Edit] = []
    notes: list[Note] = []
    in_program = False
    lines = list(_lines(source))
    value_end = 0
    for k, (offset, text) in enumerate(lines):
        stripped = text.strip()
        if k < value_end:
            continue  # a line of the value above
        if stripped.startswith("["):
            in_program = stripped.startswith("[program:")
            continue
        key, eq, rest = text.partition("=")
        if not in_program or not eq:
            continue
        value_start = len(key) + 1 + (len(rest) - len(rest.lstrip(" \t")))
        # The value goes on over the lines after it that are indented more (an ini continuation);
        # the command is split with shlex, where a line break is a blank.
        indent = len(text) - len(text.lstrip(" \t"))
        value_end = k + 1
        while value_end < len(lines) and lines[value_end][1].strip() and \
                len(lines[value_end][1]) - len(lines[value_end][1].lstrip(" \t")) > indent:
            value_end += 1
        value = "\n".join(line for _, line in lines[k:value_end])[value_start:]
        value_text = Text(value.replace("\n", " "), range(offset + value_start, offset + value_start + len(value) + 1))
        key = key.strip()
        if key == "command":
            e, n = rewrite_shell(value_text, percent_doubled=True)
        elif key == "environment":
            e, n = _supervisor_environment(value_text.value, offset + value_start, options)
        else:
            continue
        edits += e
        notes += n
    return edits, notes


def _supervisor_environment(value: str, base: int, options: Options) -> Result:
    edits: list[Edit] = []
    notes: list[Note] = []
    i = 0
    while i < len(value):
        key_end = value.find("=", i)
        if key_end < 0:
            break
        name = value[i:key_end].strip().lstrip(",").strip()
        j = key_end + 1
        if value[j:j + 1] in ("'", '"'):
            close = value.find(value[j], j + 1)
            if close < 0:
                break
            item, end = Text.at(value[j + 1:close], base + j + 1), close + 1
        else:
            close = value.find(",", j)
            close = len(value) if close < 0 else close
            item, end = Text.at(value[j:close].rstrip(), base + j), close
        if is_celery_variable(name):
            e, n = rewrite_assignment(name, item, options)
            edits += e
            notes += n
        i = end + 1 if end < len(value) and value[end:end + 1] == "," else end
        while i < len(value) and value[i] in ", \t":
            i += 1
    return edits, notes


_DOCKER_INSTRUCTION = re.compile(r"^[ \t]*([A-Za-z]+)[ \t]+")
#: A here-document on a RUN, COPY or ADD line (BuildKit): ``<<EOF``, ``<<-EOF``, ``<<"EOF"``.
_DOCKER_HEREDOC = re.compile(r"(?<!<)<<(-?)([\"']?)([A-Za-z0-9_.-]+)\2(?![<\w])")


def dockerfile(source: str, options: Options) -> Result:
    edits: list[Edit] = []
    notes: list[Note] = []
    first = source.lstrip().splitlines()[0] if source.strip() else ""
    if re.match(r"#\s*escape\s*=\s*`", first):
        return [], [Note(0, "CFQ609", "a Dockerfile with the ` escape character is not rewritten; edit its "
                         "Celery commands by hand")]
    # Per build stage, the exec forms of ENTRYPOINT and CMD: Docker runs them as one command line. A
    # stage built FROM an earlier one inherits both (and gets CMD reset when it sets ENTRYPOINT).
    stage: dict[str, JsonWordList] = {}
    named: dict[str, dict[str, JsonWordList]] = {}
    stage_name = ""
    heredocs: list[tuple[str, bool]] = []  # the delimiters (and strip-tabs flags) of bodies still to come
    body: list[str] = []
    body_at = 0
    script_body = False  # "RUN <<EOF": the body is the shell script Docker runs
    for offset, text in _logical_lines(source):
        if heredocs:
            delimiter, strip_tabs = heredocs[0]
            if not body:
                body_at = offset
            body.append(text)
            last = text.rsplit("\n", 1)[-1]
            if (last.lstrip("\t") if strip_tabs else last).rstrip("\r") != delimiter:
                continue
            heredocs.pop(0)
            body_text = "\n".join(body)[:-len(last)]
            body = []
            if script_body and (not body_text.startswith("#!") or _is_shell_script(body_text)):
                e, n = rewrite_shell(Text.at(body_text, body_at), foreground=False)
                edits += e
                notes += n
            elif "celery" in body_text.lower():
                notes.append(Note(body_at, "CFQ609", "a here-document's text is not rewritten; edit the Celery "
                                  "commands or settings in it by hand"))
            script_body = False
            continue
        match = _DOCKER_INSTRUCTION.match(text)
        if match is None or text.lstrip().startswith("#"):
            continue
        instruction = match.group(1).upper()
        rest, rest_at = text[match.end():], offset + match.end()
        if instruction in ("RUN", "COPY", "ADD"):
            heredocs = [(m.group(3), bool(m.group(1))) for m in _DOCKER_HEREDOC.finditer(rest)]
            ends = [("\t*" if tabs else "") + re.escape(end) + "\r?$" for end, tabs in heredocs]
            if ends and not all(re.compile("^" + end, re.MULTILINE).search(source, offset + len(text)) for end in ends):
                heredocs = []  # "<<" in a quoted string, say: no body follows
            script_body = instruction == "RUN" and len(heredocs) == 1 and rest.lstrip().startswith("<<")
        if instruction == "FROM":
            e, n = _entrypoint_and_cmd(stage)
            named[stage_name] = stage
            words = rest.split()
            base = next((w for w in words if not w.startswith("--")), "").lower()
            stage_name = words[-1].lower() if len(words) >= 3 and words[-2].lower() == "as" else ""
            stage = dict(named.get(base, {})) if base else {}
        elif instruction in ("RUN", "CMD", "ENTRYPOINT"):
            words = _json_words(rest, rest_at) if rest.lstrip().startswith("[") else None
            if instruction != "RUN":
                stage.pop(instruction, None)
                if instruction == "ENTRYPOINT":
                    stage.pop("CMD", None)  # Docker: setting ENTRYPOINT resets an inherited CMD
            if words is not None:
                e, n = rewrite_word_list(words)
                if not e and not n and instruction != "RUN":
                    stage[instruction] = words
            else:  # a RUN is a build step: only CMD and ENTRYPOINT run under a process manager
                e, n = rewrite_shell(Text.at(rest, rest_at), foreground=instruction != "RUN")
        elif instruction == "ENV":
            e, n = _docker_env(rest, rest_at, options)
        else:
            continue
        edits += e
        notes += n
    e, n = _entrypoint_and_cmd(stage)
    return edits + e, notes + n


def _entrypoint_and_cmd(stage: dict[str, JsonWordList]) -> Result:
    """``ENTRYPOINT ["celery", "-A", "proj"]`` with ``CMD ["worker", …]``: the two lists as one
    command line. An entrypoint of the celery program and ``-A`` alone (the sub-command comes from
    ``docker run IMAGE worker``) names cfq-shim. A stage that inherits its entrypoint from an
    earlier one makes the same edit on it, which counts once."""
    entrypoint, cmd = stage.get("ENTRYPOINT"), stage.get("CMD")
    if entrypoint is None:
        return [], []
    if cmd is not None:
        edits, notes = rewrite_word_list(ChainedWordList([entrypoint, cmd]))
        if edits or notes:
            return edits, notes
    return rewrite_program_only(entrypoint)


def _docker_env(rest: str, base: int, options: Options) -> Result:
    try:
        words = [w for command in simple_commands(lex(rest)) for w in command]
    except ShellSyntaxError:
        return [], []
    if words and "=" not in words[0].raw and len(words) >= 2:  # legacy "ENV NAME value"
        name = words[0].raw
        if is_celery_variable(name):
            value_start = words[1].start
            value = rest[value_start:].rstrip()
            return rewrite_assignment(name, Text.at(value, base + value_start), options)
        return [], []
    return _assignments(rest, options, base=base)


class JsonWordList:
    """A JSON array of strings (Dockerfile exec form): items keep ``", "`` between them."""

    def __init__(self, items: list[ListItem], spans: list[tuple[int, int]], raws: list[str]) -> None:
        self.items = items
        self._spans = spans
        self._raws = raws

    def replace(self, index: int, value: str) -> Edit:
        return Edit(*self._spans[index], json.dumps(value))

    def delete(self, index: int) -> Edit:
        if index:
            return Edit(self._spans[index - 1][1], self._spans[index][1], "")
        end = self._spans[1][0] if len(self._spans) > 1 else self._spans[0][1]  # '"a", ' goes with the item
        return Edit(self._spans[0][0], end, "")

    def insert_after(self, index: int, values) -> Edit:
        at = self._spans[index][1]
        return Edit(at, at, "".join(", " + json.dumps(v) for v in values))

    def script(self, index: int) -> Text | None:
        raw = self._raws[index]
        if "\\" in raw:
            return None
        return Text.at(raw[1:-1], self._spans[index][0] + 1)


def _json_words(rest: str, base: int) -> JsonWordList | None:
    """The exec form's strings with their spans; None when it is not a JSON array of strings
    (Docker then runs it as a shell command, and so do we)."""
    try:
        parsed = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
        return None
    items, spans, raws = [], [], []
    i = rest.index("[") + 1
    for _ in parsed:
        i = rest.index('"', i)
        value, end = scanstring(rest, i + 1)
        items.append(ListItem(value, base + i))
        spans.append((base + i, base + end))
        raws.append(rest[i:end])
        i = end
    return JsonWordList(items, spans, raws)
