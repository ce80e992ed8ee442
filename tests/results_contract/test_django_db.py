"""The contract suite for ``django-db``, run in a subprocess that configures Django (this process never
does: other tests need an unconfigured Django), once on SQLite and once on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _run_contract_through_django(tmp_path: Path, databases: str) -> subprocess.CompletedProcess:
    (tmp_path / "contract_django_settings.py").write_text(
        f"DATABASES = {databases}\nUSE_TZ = True\nINSTALLED_APPS = []\nSECRET_KEY = 'contract'\n"
    )
    env = {
        **os.environ,
        "CFQ_CONTRACT_DJANGO": "1",
        "DJANGO_SETTINGS_MODULE": "contract_django_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE), "-k", "django-db",
         "--ignore", str(Path(__file__))],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _assert_contract_passed(run: subprocess.CompletedProcess) -> None:
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary


def test_contract_through_djangos_connection_on_sqlite(tmp_path: Path) -> None:
    databases = repr({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "django.sqlite3")}})
    _assert_contract_passed(_run_contract_through_django(tmp_path, databases))


def test_contract_through_djangos_connection_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    pytest.importorskip("psycopg")
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    databases = repr({"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": parts.username,
        "HOST": parts.hostname, "PORT": str(parts.port),
    }})
    _assert_contract_passed(_run_contract_through_django(tmp_path, databases))
