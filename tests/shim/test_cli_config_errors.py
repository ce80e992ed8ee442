"""A configuration that cannot be read stops every cfq-shim command with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

COMMANDS = [["worker", "-P", "solo"], ["inspect"], ["purge", "-f"], ["provision", "--dry-run"]]


def run_cfq_shim(tmp_path, module_source: str, args: list[str], **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "proj.py").write_text(textwrap.dedent(module_source))
    return subprocess.run(
        [sys.executable, "-m", "cfq_shim", "-A", "proj", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "CFQ_SHIM_BROKER_URL": f"sqlite:///{tmp_path}/q.db", **env},
    )


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_a_config_module_that_does_not_import_is_named_without_a_traceback(tmp_path, args):
    result = run_cfq_shim(tmp_path, """
        from cfq_shim import Celery
        app = Celery("proj")
        app.config_from_object("no_such_config_module")
    """, args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: config_from_object('no_such_config_module'): cannot load it: "
        "No module named 'no_such_config_module'"
    ]


def test_a_wrong_django_settings_module_is_named_without_a_traceback(tmp_path):
    pytest.importorskip("django")
    result = run_cfq_shim(tmp_path, """
        from cfq_shim import Celery
        app = Celery("proj")
        app.config_from_object("django.conf:settings", namespace="CELERY")
    """, ["worker", "-P", "solo"], DJANGO_SETTINGS_MODULE="nope.settings")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "config_from_object('django.conf:settings')" in result.stderr
    assert "No module named 'nope'" in result.stderr


@pytest.mark.parametrize("setting", ["worker_concurrency", "worker_max_tasks_per_child"])
def test_a_worker_number_setting_that_is_not_a_number_is_named_without_a_traceback(tmp_path, setting):
    result = run_cfq_shim(tmp_path, f"""
        from cfq_shim import Celery
        app = Celery("proj")
        app.conf.{setting} = "four"
    """, ["worker", "-P", "solo"])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"Error: {setting} must be a whole number (got 'four')"]


def test_a_log_file_that_cannot_be_opened_is_named_without_a_traceback(tmp_path):
    logfile = tmp_path / "no_such_dir" / "worker.log"
    result = run_cfq_shim(tmp_path, """
        from cfq_shim import Celery
        app = Celery("proj")
    """, ["worker", "-P", "solo", "-f", str(logfile)])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot open the log file {str(logfile)!r}: No such file or directory"
    ]
