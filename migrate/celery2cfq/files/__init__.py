"""The codemod on files that are not Python: deployment files, environment files, dependencies.

- :func:`kind_of` names a file's format from its path alone (cheap: discovery calls it for every
  file of the tree); :func:`might_need_work` looks at its bytes once (``celery`` in any case, a
  shell shebang for extension-less scripts, ``[program:`` for supervisor).
- :func:`transform_file` has the same contract as the Python transform: text in, new text and
  findings out, :class:`~celery2cfq.model.SourceError` for a file it cannot read (which is then
  reported and left byte-identical). The engine runs it again on its output to prove a second run
  changes nothing.

One module per format family: :mod:`.line_formats` (shell scripts, Procfile, Makefile, systemd,
supervisor, Dockerfile, environment files), :mod:`.yaml_format` (compose, Kubernetes, Helm values),
:mod:`.dependencies` (requirements files, pyproject.toml, setup.cfg), :mod:`.pytest_options`
(``-p celery.contrib.pytest`` in pytest's options: pytest.ini, tox.ini, setup.cfg, pyproject.toml). Rules and codes: :mod:`.rules`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..model import Finding, Options, Transformed
from .celery_cli import SHELLS
from . import pytest_options
from .edits import Edit, Note, apply_edits, line_and_column
from .environment import assigned_option_variables, expansion_name

__all__ = ["kind_of", "might_need_work", "transform_file", "build_index", "FilesIndex", "KINDS"]

#: Formats and what they are for (docs/cli.md lists them).
KINDS = ("procfile", "dockerfile", "shell", "systemd", "supervisor", "makefile", "yaml", "env", "requirements",
         "pyproject", "pipfile", "lock", "setup.cfg", "ini", "script?")


def kind_of(key: str) -> str | None:
    """The format of the file at ``key`` (a ``/``-separated path), from its name; None for files
    the codemod never reads (and for Python files, which the Python codemod reads)."""
    name = posixpath.basename(key)
    lowered = name.lower()
    stem, dot, suffix = lowered.rpartition(".")
    suffix = f".{suffix}" if dot else ""
    if suffix == ".py":
        return None
    if name == "Procfile" or name.startswith("Procfile."):
        return "procfile"
    if lowered in ("dockerfile", "containerfile") or lowered.startswith(("dockerfile.", "containerfile.")) \
            or lowered.endswith(".dockerfile"):
        return "dockerfile"
    if lowered in ("makefile", "gnumakefile") or suffix == ".mk":
        return "makefile"
    if suffix in (".sh", ".bash"):
        return "shell"
    if suffix == ".service":
        return "systemd"
    if lowered in ("pytest.ini", "tox.ini"):
        return "ini"
    if suffix in (".conf", ".ini") and lowered not in ("setup.cfg", "tox.ini", "pytest.ini", "mypy.ini"):
        return "supervisor"
    if suffix in (".yml", ".yaml"):
        return "yaml"
    if lowered == ".env" or lowered.startswith(".env.") or suffix == ".env" or lowered in ("celeryd", "celerybeat"):
        return "env"
    if lowered == "pyproject.toml":
        return "pyproject"
    if name == "Pipfile":
        return "pipfile"
    if name in ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock"):
        return "lock"
    if lowered == "setup.cfg":
        return "setup.cfg"
    parent = posixpath.basename(posixpath.dirname(key)).lower()
    if suffix in (".txt", ".in") and (lowered.startswith(("requirements", "constraints"))
                                      or "requirements" in stem or parent == "requirements"):
        return "requirements"
    if not dot:
        return "script?"
    return None


def might_need_work(data: bytes, kind: str) -> bool:
    lowered = data.lower()
    marker = b"flower" if kind == "requirements" else b"broker_url"  # flower alone; BROKER_URL=… (pre-4.0 name)
    if b"celery" not in lowered and marker not in lowered:
        return False
    return _content_kind(kind, data) is not None


#: A line of Celery's daemon configuration (``/etc/default/celeryd``, ``/etc/conf.d/celery``): how a
#: file without a telling name (``deploy/celery``, ``celery.conf``) shows it is an environment file.
_DAEMON_ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?(?:CELERY_BIN|CELERY_APP|CELERYD_[A-Z_]+|CELERYBEAT_[A-Z_]+)=",
                                re.MULTILINE)


def _content_kind(kind: str, data: bytes | str) -> str | None:
    """The format of a file whose name leaves it open (``script?``, a ``.conf``), from its text."""
    if kind not in ("script?", "supervisor"):
        return kind
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    if kind == "script?" and _is_shell_script(text):
        return "shell"
    if kind == "supervisor" and "[program:" in text.lower():
        return "supervisor"
    return "env" if _DAEMON_ASSIGNMENT.search(text) else None


def _is_shell_script(data: bytes | str) -> bool:
    first = data.split(b"\n" if isinstance(data, bytes) else "\n", 1)[0]
    if isinstance(first, bytes):
        first = first.decode("latin-1")
    if not first.startswith("#!"):
        return False
    interpreter = first[2:].split()
    if not interpreter:
        return False
    program = posixpath.basename(interpreter[0])
    if program == "env":  # "#!/usr/bin/env bash", "#!/usr/bin/env -S bash -eu"
        program = next((word for word in interpreter[1:] if not word.startswith("-")), "")
    return program in SHELLS


@dataclass(frozen=True)
class FilesIndex:
    """What one file of the tree needs to know about the others (picklable, built once)."""

    #: Celery's option variables (``CELERYD_OPTS`` …) assigned in a file of the tree, where the
    #: codemod maps their options.
    option_variables: frozenset[str] = frozenset()

    def defines_options_at(self, source: str, note: Note) -> bool:
        """Whether ``note`` is the "options in a variable" finding on a variable this tree defines:
        its options are mapped (and reported) where it is set, so the command line has nothing left."""
        if note.code != "CFQ605":
            return False
        variable = expansion_name(source, note.offset)
        return variable is not None and variable in self.option_variables


_CI_BROKER = ("; this is a CI configuration: tests need no Cloudflare account with memory:// (one process) or "
              "sqlite:///tasks.db (a worker and the tests in several processes): pass --broker, or edit it")


def _is_ci_config(key: str) -> bool:
    """A CI pipeline's file (GitHub Actions, GitLab, CircleCI, Bitbucket, Azure), where the broker
    usually serves tests rather than a deployment."""
    name = posixpath.basename(key).lower()
    return (key.startswith(".github/workflows/") or "/.github/workflows/" in key
            or name in (".gitlab-ci.yml", "bitbucket-pipelines.yml", "azure-pipelines.yml")
            or key.endswith(".circleci/config.yml"))


def build_index(sources: Mapping[str, str]) -> FilesIndex:
    """The :class:`FilesIndex` of the non-Python candidates (key -> text)."""
    defined: set[str] = set()
    for key, text in sources.items():
        kind = kind_of(key)
        kind = None if kind is None else _content_kind(kind, text)
        if kind in ("env", "shell", "systemd"):
            defined |= assigned_option_variables(text)
    return FilesIndex(option_variables=frozenset(defined))


def _formatter(kind: str) -> Callable[[str, Options], tuple[list[Edit], list[Note]]]:
    from . import dependencies, line_formats, yaml_format

    return {
        "procfile": line_formats.procfile, "dockerfile": line_formats.dockerfile, "shell": line_formats.shell_script,
        "script?": line_formats.shell_script, "systemd": line_formats.systemd_unit,
        "supervisor": line_formats.supervisor_conf, "makefile": line_formats.makefile, "env": line_formats.env_file,
        "yaml": yaml_format.yaml_file, "requirements": dependencies.requirements_file,
        "pyproject": dependencies.pyproject_file, "setup.cfg": dependencies.setup_cfg_file,
        "pipfile": dependencies.pipfile, "ini": pytest_options.pytest_ini,
    }[kind]


def transform_file(source: str, *, path: str, index: object = None, options: Options) -> Transformed:
    """Rewrite one non-Python file's text (the engine's ``transform_other``). ``path`` is the
    file's key; ``index`` is the tree's :class:`FilesIndex` (None: this file alone)."""
    kind = kind_of(path)
    kind = None if kind is None else _content_kind(kind, source)
    if kind is None:
        return Transformed(source=source)
    if kind == "lock":
        from .dependencies import lock_file

        edits, notes = lock_file(source, options, name=posixpath.basename(path))
    else:
        edits, notes = _formatter(kind)(source, options)
    if isinstance(index, FilesIndex):
        notes = [note for note in notes if not index.defines_options_at(source, note)]
    if _is_ci_config(path):
        notes = [Note(n.offset, n.code, n.message + _CI_BROKER) if n.code == "CFQ701" else n for n in notes]
    edits = sorted(set(edits))  # a YAML anchor's node is reached once per alias: the same edit, once
    if not options.enabled(pytest_options.CODE):
        # The removals of "-p celery.contrib.pytest" from pytest command lines (in any format's
        # commands) are the only edits that delete the plugin's name.
        edits = [e for e in edits if e.text or pytest_options.CELERY_PYTEST_PLUGIN not in source[e.start:e.end]]
    from .rules import REWRITE_GATES

    gate = REWRITE_GATES.get(kind, "CFQ601")
    new_source = apply_edits(source, edits) if edits and options.enabled(gate) else source
    findings = []
    for note in notes:
        if options.enabled(note.code):
            line, column = line_and_column(source, note.offset)
            findings.append(Finding(line=line, code=note.code, message=note.message, column=column))
    return Transformed(source=new_source, findings=tuple(sorted(set(findings))))
