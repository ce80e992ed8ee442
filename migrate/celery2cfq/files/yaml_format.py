"""YAML files: docker-compose, Kubernetes manifests, Helm values (and any YAML with a command).

Parsed with ruamel.yaml's round-trip composer, which gives every scalar and sequence its exact
position and quoting style; the rewrite then edits those spans only, so comments, anchors, key
order, indentation and quoting elsewhere stay byte-identical (a dump, even a round-trip one,
would re-flow some of them). What is looked at:

- ``command:``/``entrypoint:``/``args:`` and other command-like keys holding a string (a shell
  line, also ``|`` blocks, ``>`` blocks and plain scalars over several lines, whose line breaks
  fold to spaces) or a list of words; a Kubernetes container's ``command`` and ``args``
  count as one command line;
- ``environment:`` mappings and ``KEY=value`` lists, and Kubernetes ``env: [{name, value}]``, for
  the Celery variables (see :mod:`.environment`).

A file ruamel cannot read is an error, unless it holds template markers (``{{ }}``, a Helm
template): then it is reported with CFQ609 and left as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ..model import Options, SourceError
from .commands import ListItem, rewrite_shell, rewrite_word_list
from .edits import Edit, Note, Text, apply_edits
from .environment import is_celery_variable, rewrite_assignment

__all__ = ["yaml_file"]

Result = tuple[list[Edit], list[Note]]

_COMMAND_KEYS = frozenset({"command", "entrypoint", "args", "cmd", "run", "script", "exec", "start",
                           "startcommand", "start_command", "test", "bash"})  # test: a compose healthcheck's
#: CI steps (GitHub Actions ``run:``, GitLab ``script:``, Azure ``bash:``, a string or a list of
#: lines, or CircleCI's ``run: {command: …}``): shell scripts, where a command that no longer
#: detaches makes the next line wait; the other keys are run by a process manager.
_SCRIPT_KEYS = frozenset({"run", "script", "before_script", "after_script", "bash"})
_PLAIN_SAFE = re.compile(r"[A-Za-z_./@%+-][A-Za-z0-9_./=:@%+-]*")
_YAML_KEYWORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def yaml_file(source: str, options: Options) -> Result:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        documents = list(YAML(typ="rt").compose_all(source))
    except YAMLError as exc:
        if re.search(r"(?<!\$)\{\{", source):  # Helm, Jinja; GitHub Actions' ${{ }} is YAML
            return [], [Note(0, "CFQ609", "a template (it holds {{ }}), not YAML: Celery commands and variables in it "
                             "are left as they are")]
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceError(f"{where}could not read the YAML ({problem})") from None
    walker = _Walker(source, options)
    for document in documents:
        if document is not None:
            walker.secret_data = _secret_data(document)
            walker.walk(document, key=None)
    return walker.edits, walker.notes


def _secret_data(document) -> object | None:
    """The ``data:`` mapping of a Kubernetes Secret (values in base64), or None."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    if not isinstance(document, MappingNode):
        return None
    pairs = {k.value: v for k, v in document.value if isinstance(k, ScalarNode)}
    kind = pairs.get("kind")
    if isinstance(kind, ScalarNode) and kind.value == "Secret" and isinstance(pairs.get("data"), MappingNode):
        return pairs["data"]
    return None


class _Walker:
    def __init__(self, source: str, options: Options) -> None:
        self.source = source
        self.options = options
        self.edits: list[Edit] = []
        self.notes: list[Note] = []
        #: the current document's Secret ``data:`` mapping (base64 values), if it is a Secret
        self.secret_data: object | None = None

    def _add(self, result: Result) -> None:
        self.edits += result[0]
        self.notes += result[1]

    def walk(self, node, *, key: str | None, in_step: bool = False) -> None:
        """``in_step``: ``node`` is in the mapping of a CI step (CircleCI's ``run: {command: …}``)."""
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        if isinstance(node, MappingNode):
            pairs = [(k.value if isinstance(k, ScalarNode) else None, v) for k, v in node.value]
            by_key = dict(pairs)
            self._kubernetes_env(by_key)
            # One command line in two lists: a Kubernetes container's command + args, a compose
            # service's entrypoint + command.
            combined: tuple[str, str] | None = None
            for first, second in (("command", "args"), ("entrypoint", "command")):
                if isinstance(by_key.get(first), SequenceNode) and isinstance(by_key.get(second), SequenceNode):
                    combined = (first, second)
                    self._add(rewrite_word_list(YamlWordList(self.source, [by_key[first], by_key[second]])))
                    break
            for name, value in pairs:
                if combined and name in combined:
                    continue
                if isinstance(name, str) and isinstance(value, ScalarNode) and is_celery_variable(name):
                    text = scalar_text(self.source, value)
                    if text is not None and node is self.secret_data:
                        self._add(self._secret_value(name, text))
                    elif text is not None and str(getattr(value.tag, "value", value.tag)).endswith(":str"):
                        self._add(rewrite_assignment(name, text, self.options))
                    continue
                self.walk(value, key=name, in_step=isinstance(key, str) and key.lower() in _SCRIPT_KEYS)
        elif isinstance(node, SequenceNode):
            if isinstance(key, str) and key.lower() in _SCRIPT_KEYS:  # GitLab's script: one shell line per item
                for item in node.value:
                    self.walk(item, key=key)
                return
            if _is_command_key(key) and node.value and all(isinstance(x, ScalarNode) for x in node.value):
                self._add(rewrite_word_list(YamlWordList(self.source, [node])))
                return
            for item in node.value:
                if isinstance(item, ScalarNode):
                    self._environment_item(item)
                else:
                    self.walk(item, key=None)
        elif isinstance(node, ScalarNode) and _is_command_key(key) and "celery" in str(node.value).lower():
            text = scalar_text(self.source, node)
            if text is None:
                self.notes.append(Note(node.start_mark.index, "CFQ609", "a Celery command in a YAML string with "
                                       "escapes or folding is left as it is; rewrite it by hand"))
            else:
                self._add(rewrite_shell(text, foreground=not in_step and str(key).lower() not in _SCRIPT_KEYS))

    def _secret_value(self, name: str, text: Text) -> Result:
        """A Secret's ``data:`` value is base64: decoded to be read, written back encoded. Neither the
        old value nor anything decoded from it goes into a finding."""
        import base64
        import binascii

        try:
            decoded = base64.b64decode(text.value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return [], [Note(text.positions[0], "CFQ702", f"{name} in this Secret is not base64 text; left as it is")]
        edits, notes = rewrite_assignment(name, Text.at(decoded, 0), self.options)
        if not edits:
            return [], [Note(text.positions[0], note.code, note.message.split(" (")[0] if note.code == "CFQ702"
                             else note.message) for note in notes]
        new = base64.b64encode(apply_edits(decoded, edits).encode()).decode("ascii")
        return [Edit(*text.span(0, len(text.value)), new)], [Note(text.positions[0], n.code, n.message) for n in notes]

    def _environment_item(self, item) -> None:
        """``- CELERY_BROKER_URL=redis://…`` in a compose ``environment:`` list."""
        value = str(item.value)
        name, eq, _ = value.partition("=")
        if not eq or not is_celery_variable(name):
            return
        text = scalar_text(self.source, item)
        if text is not None:
            start = len(name) + 1
            self._add(rewrite_assignment(name, text.sub(start, len(text.value)), self.options))

    def _kubernetes_env(self, by_key: dict) -> None:
        """``- name: CELERY_BROKER_URL`` / ``value: redis://…``."""
        from ruamel.yaml.nodes import ScalarNode

        name, value = by_key.get("name"), by_key.get("value")
        if isinstance(name, ScalarNode) and isinstance(value, ScalarNode) and is_celery_variable(str(name.value)):
            text = scalar_text(self.source, value)
            if text is not None:
                self._add(rewrite_assignment(str(name.value), text, self.options))


def _is_command_key(key: str | None) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    return lowered in _COMMAND_KEYS or lowered.endswith(("command", "_cmd"))


def scalar_text(source: str, node) -> Text | None:
    """The scalar's value with the file position of each character; None when the value does not
    map back to the file character by character (escapes, folds other than single line breaks)."""
    start, end = node.start_mark.index, node.end_mark.index
    raw = source[start:end]
    value = str(node.value)
    style = node.style
    if style is None:
        if raw == value:
            return Text.at(value, start)
        return _folded_lines(source, start, raw.split("\n"), value, block=False)
    if style == ">":
        header_end = source.find("\n", start)
        if header_end < 0 or header_end >= end:
            return None
        # ruamel marks each fold of the value with "\a" (to write it back); the value has a space there.
        body = source[header_end + 1:end].split("\n")
        return _folded_lines(source, header_end + 1, body, value.replace("\a", ""), block=True)
    if style in ("'", '"'):
        inner = raw[1:-1]
        return Text.at(value, start + 1) if inner == value and "\\" not in inner and "\n" not in inner else None
    if style == "|":
        return _literal_block(source, start, end, value)
    return None


def _folded_lines(source: str, offset: int, lines: list[str], value: str, *, block: bool) -> Text | None:
    """A folded (``>``, ``block``) block's or a multi-line plain scalar's value, when it is simply
    its lines joined by single spaces (each space maps to the line break it stands for). Blank
    lines and more-indented lines fold otherwise: None, as for anything that does not read back
    exactly."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    chars: list[str] = []
    positions: list[int] = []
    indents = set()
    for k, line in enumerate(lines):
        content = line.lstrip(" \t") if k or block else line
        if not content.strip():
            return None
        skip = len(line) - len(content)
        if k or block:
            indents.add(skip)
        if k:
            chars.append(" ")
            positions.append(offset - 1)  # the line break this space stands for
        content = content.rstrip(" \t")
        chars.extend(content)
        positions.extend(range(offset + skip, offset + skip + len(content)))
        offset += len(line) + 1
    if not chars or (block and len(indents) != 1) or "".join(chars) != value.rstrip("\n"):
        return None
    return Text("".join(chars), positions + [positions[-1] + 1])


def _literal_block(source: str, start: int, end: int, value: str) -> Text | None:
    header_end = source.find("\n", start)
    if header_end < 0:
        return None
    positions: list[int] = []
    chars: list[str] = []
    offset = header_end + 1
    body = source[offset:end]
    lines = body.split("\n")
    indent = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=0)
    for line in lines:
        content = line[indent:] if line.strip() else ""
        skip = indent if line.strip() else len(line)
        for k, c in enumerate(content):
            positions.append(offset + skip + k)
            chars.append(c)
        positions.append(offset + len(line))
        chars.append("\n")
        offset += len(line) + 1
    text = "".join(chars)
    if not text.startswith(value.rstrip("\n")):
        return None
    n = len(value.rstrip("\n"))
    return Text(text[:n], positions[: n + 1])


class YamlWordList:
    """The scalars of one or more YAML sequences (a Kubernetes ``command`` + ``args``) as one
    command line. Flow sequences (``[a, b]``) and block sequences (``- a``) are both edited in
    place, each item in its own quoting style."""

    def __init__(self, source: str, sequences: Sequence) -> None:
        self._source = source
        self._entries = [(item, sequence) for sequence in sequences for item in sequence.value]
        self.items = [ListItem(str(item.value), item.start_mark.index) for item, _ in self._entries]

    def _render(self, index: int, value: str) -> str:
        item, sequence = self._entries[index]
        style = item.style
        if style == "'":
            return "'" + value.replace("'", "''") + "'"
        if style is None and _PLAIN_SAFE.fullmatch(value) and value.lower() not in _YAML_KEYWORDS:
            if not (sequence.flow_style and "," in value):
                return value
        return json.dumps(value)

    def replace(self, index: int, value: str) -> Edit:
        item, _ = self._entries[index]
        return Edit(item.start_mark.index, item.end_mark.index, self._render(index, value))

    def delete(self, index: int) -> Edit:
        item, sequence = self._entries[index]
        if sequence.flow_style:
            previous = [other for other, seq in self._entries[:index] if seq is sequence]
            if previous:
                return Edit(previous[-1].end_mark.index, item.end_mark.index, "")
            following = [other for other, seq in self._entries[index + 1:] if seq is sequence]
            end = following[0].start_mark.index if following else item.end_mark.index
            return Edit(item.start_mark.index, end, "")
        line_start = self._source.rfind("\n", 0, item.start_mark.index) + 1
        line_end = self._source.find("\n", item.end_mark.index)
        return Edit(line_start, len(self._source) if line_end < 0 else line_end + 1, "")

    def insert_after(self, index: int, values: Sequence[str]) -> Edit:
        item, sequence = self._entries[index]
        if sequence.flow_style:
            at = item.end_mark.index
            return Edit(at, at, "".join(", " + self._render(index, v) for v in values))
        line_start = self._source.rfind("\n", 0, item.start_mark.index) + 1
        dash = self._source[line_start:item.start_mark.index]
        line_end = self._source.find("\n", item.end_mark.index)
        at = len(self._source) if line_end < 0 else line_end + 1
        return Edit(at, at, "".join(f"{dash}{self._render(index, v)}\n" for v in values))

    def script(self, index: int) -> Text | None:
        return scalar_text(self._source, self._entries[index][0])
