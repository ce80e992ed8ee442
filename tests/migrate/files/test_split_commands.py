"""One Celery command line written in two lists: a Dockerfile's ENTRYPOINT + CMD (exec form, also
inherited by a later stage) and a compose service's entrypoint + command."""

from __future__ import annotations

import pytest
from files_support import migrate

from celery2cfq.engine import run
from celery2cfq.model import Options


@pytest.mark.parametrize(("before", "after", "codes"), [
    ('FROM python:3.12\nENTRYPOINT ["celery", "-A", "proj"]\nCMD ["worker", "-E", "--loglevel=info"]\n',
     'FROM python:3.12\nENTRYPOINT ["cfq-shim", "-A", "proj"]\nCMD ["worker", "--loglevel=info"]\n', ["CFQ602"]),
    # The sub-command first in CMD, removed options right after it, and Celery 4's --app after it.
    ('FROM p\nENTRYPOINT ["/venv/bin/celery"]\nCMD ["worker", "--app=proj", "--without-gossip"]\n',
     'FROM p\nENTRYPOINT ["/venv/bin/cfq-shim", "--app=proj"]\nCMD ["worker"]\n', ["CFQ602"]),
    # A later stage inherits the entrypoint; the edit on it counts once.
    ('FROM python:3.12 AS base\nENTRYPOINT ["celery", "-A", "proj"]\n\nFROM base\nCMD ["worker", "-E"]\n',
     'FROM python:3.12 AS base\nENTRYPOINT ["cfq-shim", "-A", "proj"]\n\nFROM base\nCMD ["worker"]\n', ["CFQ602"]),
    ('FROM p\nENTRYPOINT ["python", "-m", "celery", "--app=proj"]\nCMD ["beat", "--detach"]\n',
     'FROM p\nENTRYPOINT ["python", "-m", "cfq_shim", "--app=proj"]\nCMD ["beat"]\n', ["CFQ602"]),
    # The entrypoint alone: the sub-command comes from `docker run IMAGE worker`.
    ('FROM p\nENTRYPOINT ["celery", "-A", "proj"]\n', 'FROM p\nENTRYPOINT ["cfq-shim", "-A", "proj"]\n', []),
    # A stage FROM another image does not inherit it: its CMD is not a Celery command line.
    ('FROM p\nENTRYPOINT ["celery", "-A", "proj"]\nFROM q\nCMD ["worker", "-E"]\n',
     'FROM p\nENTRYPOINT ["cfq-shim", "-A", "proj"]\nFROM q\nCMD ["worker", "-E"]\n', []),
])
def test_dockerfile_entrypoint_and_cmd(tmp_path, before, after, codes):
    result, files = migrate(tmp_path, {"Dockerfile": before})
    assert files["Dockerfile"] == after
    assert [f.code for f in result.files[0].findings] == codes
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0


@pytest.mark.parametrize("text", [
    'FROM p\nENTRYPOINT ["celery", "--broker=redis://r"]\n',  # a global option that needs mapping: not guessed
    'FROM p\nENTRYPOINT ["tini", "--"]\nCMD ["worker", "-E"]\n',
])
def test_dockerfile_lists_that_are_not_one_celery_command_stay(tmp_path, text):
    result, files = migrate(tmp_path, {"Dockerfile": text})
    assert files["Dockerfile"] == text
    assert not result.files[0].findings


def test_compose_entrypoint_and_command(tmp_path):
    before = ('services:\n  w:\n    entrypoint: ["celery"]\n    command: ["-A", "proj", "worker", "--without-gossip"]\n'
              "  b:\n    entrypoint:\n      - celery\n    command:\n      - beat\n      - --app=proj\n")
    after = ('services:\n  w:\n    entrypoint: ["cfq-shim"]\n    command: ["-A", "proj", "worker"]\n'
             "  b:\n    entrypoint:\n      - cfq-shim\n      - --app=proj\n    command:\n      - beat\n")
    result, files = migrate(tmp_path, {"docker-compose.yml": before})
    assert files["docker-compose.yml"] == after
    assert [f.code for f in result.files[0].findings] == ["CFQ602"]
    assert run([tmp_path], options=Options(), jobs=1, write=False).summary.files_changed == 0
