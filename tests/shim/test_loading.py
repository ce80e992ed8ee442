"""``-A`` resolution, as Celery's ``find_app`` does it, from the current directory."""

from __future__ import annotations

import itertools
import sys
import textwrap

import pytest

from cfq_shim import Celery
from cfq_shim.loading import AppNotFound, load_app

_counter = itertools.count()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh directory as the CWD, with a unique package name; sys.path and sys.modules restored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = set(sys.modules)
    name = f"proj{next(_counter)}"

    def write(relative: str, source: str) -> None:
        path = tmp_path / relative.replace("PROJ", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))

    yield name, write
    for module in set(sys.modules) - before:
        del sys.modules[module]


APP = "from cfq_shim import Celery\n{var} = Celery('proj', broker='memory://')\n"


def test_module_with_an_app_attribute(project):
    name, write = project
    write("PROJ.py", APP.format(var="app"))
    assert isinstance(load_app(name), Celery)


def test_module_colon_attribute(project):
    name, write = project
    write("PROJ.py", APP.format(var="worker_app"))
    app = load_app(f"{name}:worker_app")
    assert app is sys.modules[name].worker_app


def test_dotted_attribute_without_colon(project):
    name, write = project
    write("PROJ/__init__.py", "")
    write("PROJ/celery.py", APP.format(var="app"))
    assert load_app(f"{name}.celery.app") is sys.modules[f"{name}.celery"].app


def test_package_with_a_celery_module_is_found_from_the_package_name(project):
    name, write = project
    write("PROJ/__init__.py", "")
    write("PROJ/celery.py", APP.format(var="app"))
    assert load_app(name) is sys.modules[f"{name}.celery"].app


def test_attribute_named_celery(project):
    name, write = project
    write("PROJ.py", APP.format(var="celery"))
    assert load_app(name) is sys.modules[name].celery


def test_an_app_under_another_name_is_found_in_the_module(project):
    name, write = project
    write("PROJ.py", APP.format(var="tasks_app"))
    assert load_app(name) is sys.modules[name].tasks_app


def test_missing_module_names_the_spec(project):
    with pytest.raises(AppNotFound, match=r"no module named 'nowhere_to_be_found'"):
        load_app("nowhere_to_be_found")


def test_missing_attribute_names_it(project):
    name, write = project
    write("PROJ.py", APP.format(var="app"))
    with pytest.raises(AppNotFound, match="has no attribute 'nope'"):
        load_app(f"{name}:nope")


def test_import_error_inside_the_project_names_the_missing_module(project):
    name, write = project
    write("PROJ.py", "import a_dependency_that_is_not_installed\n")
    with pytest.raises(AppNotFound, match="a_dependency_that_is_not_installed"):
        load_app(name)


def test_something_that_is_not_an_app_is_refused(project):
    name, write = project
    write("PROJ.py", "app = 42\n")
    with pytest.raises(AppNotFound, match="not a cfq_shim.Celery application"):
        load_app(f"{name}:app")


def test_a_real_celery_app_gets_a_migration_hint(project):
    name, write = project
    write("PROJ.py", "from celery import Celery\napp = Celery('proj')\n")
    with pytest.raises(AppNotFound, match="celery2cfq rewrite"):
        load_app(name)


def test_empty_spec(project):
    with pytest.raises(AppNotFound, match="No application given"):
        load_app("  ")
