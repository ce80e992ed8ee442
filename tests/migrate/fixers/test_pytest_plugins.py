"""CFQ105: ``pytest_plugins`` loses ``celery.contrib.pytest`` (cfq_shim's plugin loads through its
``pytest11`` entry point; naming it again makes pytest refuse the duplicate registration)."""

from __future__ import annotations

import subprocess
import sys

from fixer_helpers import check_noop, check_transformed, codes

CONFTEST = "tests/conftest.py"


def test_the_only_entry_removes_the_statement():
    result = check_transformed(
        'import pytest\n\npytest_plugins = ("celery.contrib.pytest",)\n\n\n@pytest.fixture\ndef celery_config():\n    return {}\n',
        "import pytest\n\n\n@pytest.fixture\ndef celery_config():\n    return {}\n",
        path=CONFTEST,
    )
    assert codes(result) == ["CFQ105"]
    assert "pytest11 entry point" in result.findings[0].message


def test_a_plain_string_is_removed():
    result = check_transformed('import os\npytest_plugins = "celery.contrib.pytest"\nROOT = os.getcwd()\n', "import os\nROOT = os.getcwd()\n", path=CONFTEST)
    assert codes(result) == ["CFQ105"]


def test_other_entries_stay_with_their_layout():
    check_transformed('pytest_plugins = ["celery.contrib.pytest", "tests.fixtures"]\n', 'pytest_plugins = ["tests.fixtures"]\n', path=CONFTEST)
    check_transformed('pytest_plugins = ("tests.fixtures", "celery.contrib.pytest")\n', 'pytest_plugins = ("tests.fixtures",)\n', path=CONFTEST)
    check_transformed(
        'pytest_plugins = [\n    "tests.fixtures",\n    "celery.contrib.pytest",\n    "tests.db",\n]\n',
        'pytest_plugins = [\n    "tests.fixtures",\n    "tests.db",\n]\n',
        path=CONFTEST,
    )


def test_unrelated_and_nested_pytest_plugins_are_unchanged():
    check_noop('pytest_plugins = ("tests.fixtures",)\n', path=CONFTEST)
    check_noop('def f():\n    pytest_plugins = ("celery.contrib.pytest",)\n    return pytest_plugins\n', path=CONFTEST)
    check_noop('PLUGINS = ("celery.contrib.pytest",)\n', path=CONFTEST)


def test_the_rule_can_be_turned_off():
    from celery2cfq.model import Options

    source = 'pytest_plugins = ("celery.contrib.pytest",)\n'
    assert check_noop(source, path=CONFTEST, options=Options(skip=frozenset({"CFQ105"}))).findings == ()


def test_naming_the_shims_plugin_again_is_what_pytest_refuses(tmp_path):
    """Why the entry is removed, not renamed: measured with the installed plugin."""
    (tmp_path / "test_twice.py").write_text('pytest_plugins = ("cfq_shim.contrib.pytest",)\n\ndef test_x(celery_app):\n    pass\n')
    (tmp_path / "test_once.py").write_text("def test_y(celery_app):\n    assert celery_app.conf.broker_url == 'memory://'\n")
    twice = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_twice.py"], cwd=tmp_path, capture_output=True, text=True)
    assert twice.returncode != 0 and "Plugin already registered" in twice.stdout
    once = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_once.py"], cwd=tmp_path, capture_output=True, text=True)
    assert once.returncode == 0, once.stdout
