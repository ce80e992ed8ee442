"""The project index: apps, tasks, decorators and aliases across modules."""

from __future__ import annotations

import pickle
import textwrap

from celery2cfq.index import APP, APP_FACTORY, TASK, TASK_DECORATOR, build_index, module_name_for_path



def kinds(sources: dict[str, str]):
    return build_index({p: textwrap.dedent(s) for p, s in sources.items()})


def test_module_names_from_paths():
    assert module_name_for_path("src/proj/tasks.py") == ("proj.tasks", False)
    assert module_name_for_path("proj/__init__.py") == ("proj", True)
    assert module_name_for_path("celeryconfig.py") == ("celeryconfig", False)
    assert module_name_for_path("./a/b.py") == ("a.b", False)


def test_app_and_decorated_tasks():
    ix = kinds({"proj/worker.py": """
        from celery import Celery, shared_task
        app = Celery("proj")
        @app.task
        def a(): ...
        @app.task(bind=True)
        def b(self): ...
        @shared_task
        def c(): ...
        def plain(): ...
    """})
    r = ix.resolver()
    assert r.kind("proj.worker.app") == APP
    assert [r.kind(f"proj.worker.{n}") for n in "abc"] == [TASK, TASK, TASK]
    assert r.kind("proj.worker.plain") is None


def test_app_imported_from_another_module_and_reexported_by_the_package():
    ix = kinds({
        "src/proj/__init__.py": "from .celery import app as celery_app\n",
        "src/proj/celery.py": "from celery import Celery\napp = Celery('proj')\n",
        "src/proj/tasks.py": "from proj import celery_app\n@celery_app.task\ndef t(): ...\n",
        "src/proj/views.py": "from .tasks import t\n",
    })
    r = ix.resolver()
    assert r.kind("proj.tasks.t") == TASK
    assert r.kind("proj.views.t") == TASK
    assert r.kind("proj.celery_app") == APP


def test_submodule_wins_over_a_package_alias_of_the_same_name():
    ix = kinds({
        "proj/__init__.py": "from .celery_app import app as celery_app\n",
        "proj/celery_app.py": "from celery import Celery\napp = Celery('proj')\n",
        "proj/tasks.py": "from proj.celery_app import app\n@app.task\ndef t(): ...\n",
    })
    assert ix.resolver().kind("proj.tasks.t") == TASK


def test_decorator_aliases_and_the_call_form():
    ix = kinds({"jobs.py": """
        from celery import shared_task, Celery
        app = Celery("jobs")
        my_task = shared_task
        retrying = shared_task(acks_late=True)
        @my_task
        def a(): ...
        @retrying
        def b(): ...
        def _c(): ...
        c = app.task(_c)
        d = shared_task(bind=True)(_c)
    """})
    r = ix.resolver()
    assert r.kind("jobs.my_task") == TASK_DECORATOR
    assert r.kind("jobs.retrying") == TASK_DECORATOR
    assert [r.kind(f"jobs.{n}") for n in "abcd"] == [TASK] * 4
    assert r.kind("jobs._c") is None


def test_aliased_celery_imports_and_subclasses_and_factories():
    ix = kinds({"a.py": """
        import celery as c
        from celery import Celery as C
        class MyCelery(C):
            pass
        def make():
            app = c.Celery("x")
            return app
        one = MyCelery("one")
        two = make()
        three = c.current_app
        @two.task
        def t(): ...
    """})
    r = ix.resolver()
    assert r.kind("a.one") == APP
    assert r.kind("a.make") == APP_FACTORY
    assert r.kind("a.two") == APP
    assert r.kind("a.three") == APP
    assert r.kind("a.t") == TASK


def test_migrated_code_indexes_the_same():
    before = kinds({"t.py": "from celery import shared_task\n@shared_task\ndef t(): ...\n"})
    after = kinds({"t.py": "from cfq_shim import shared_task\n@shared_task\ndef t(): ...\n"})
    assert before.resolver().kind("t.t") == after.resolver().kind("t.t") == TASK


def test_non_celery_names_are_not_tasks():
    ix = kinds({"m.py": """
        from mylib import task, Celery
        app = Celery()
        @task
        def t(): ...
        @app.task
        def u(): ...
    """})
    r = ix.resolver()
    assert r.kind("m.t") is None and r.kind("m.u") is None and r.kind("m.app") is None


def test_config_modules_and_result_backend():
    ix = kinds({
        "proj/celery.py": """
            import os
            from celery import Celery
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings.prod")
            app = Celery("proj")
            app.config_from_object("django.conf:settings", namespace="CELERY")
        """,
        "proj/settings/__init__.py": "",
        "proj/settings/prod.py": "CELERY_RESULT_BACKEND = 'redis://'\n",
        "worker.py": "from celery import Celery\napp = Celery('w')\napp.config_from_object('celeryconfig')\n",
        "celeryconfig.py": "BROKER_URL = 'amqp://'\n",
    })
    assert ix.config_modules == {"proj.settings": "CELERY_", "proj.settings.prod": "CELERY_", "celeryconfig": ""}
    assert ix.has_result_backend
    assert not kinds({"a.py": "from celery import Celery\napp = Celery('a', broker='redis://')\n"}).has_result_backend
    assert kinds({"a.py": "from celery import Celery\napp = Celery('a', backend='redis://')\n"}).has_result_backend


def test_syntax_the_running_python_lacks_is_indexed_through_libcst():
    ix = kinds({"new.py": """
        from celery import shared_task
        type Alias = list[int]
        @shared_task
        def first[T](xs: list[T]) -> T:
            return xs[0]
        label = f"{"nested"}"
    """})
    assert ix.resolver().kind("new.first") == TASK


def test_python_314_syntax_is_indexed_through_libcst():
    # PEP 758 (except without brackets) and PEP 750 (t-strings): ast of Python < 3.14 rejects both.
    ix = kinds({"newer.py": """
        from celery import shared_task
        @shared_task
        def render(name):
            try:
                return t"hello {name}"
            except ValueError, TypeError:
                return ""
        def other():
            try:
                pass
            except* KeyError, OSError:
                pass
    """})
    assert ix.resolver().kind("newer.render") == TASK


def test_unparsable_files_are_skipped_and_the_index_is_small_and_picklable():
    ix = kinds({"bad.py": "def (:\n", "ok.py": "from celery import shared_task\n@shared_task\ndef t(): ...\n"})
    assert ix.resolver().kind("ok.t") == TASK
    assert pickle.loads(pickle.dumps(ix)) == ix
    assert len(pickle.dumps(ix)) < 2000


def test_modules_imported_under_a_shorter_name_resolve():
    ix = kinds({
        "backend/shop/tasks.py": "from celery import shared_task\n@shared_task\ndef t(): ...\n",
        "backend/shop/views.py": "from shop.tasks import t\n",
    })
    assert ix.resolver().kind("backend.shop.views.t") == TASK


def test_config_module_passed_as_a_module_object():
    ix = kinds({
        "app.py": "import celeryconfig\nfrom celery import Celery\napp = Celery('a')\napp.config_from_object(celeryconfig)\n",
        "celeryconfig.py": "broker_url = 'redis://'\n",
    })
    assert ix.config_modules == {"celeryconfig": ""}


def test_dotted_import_makes_the_package_count():
    ix = kinds({"proj/tasks.py": "from celery import shared_task\n@shared_task\ndef t(): ...\n"})
    assert {"proj", "proj.tasks"} <= ix.celery_modules


def test_the_index_does_not_change_when_a_resolver_learns():
    ix = kinds({"a.py": "from celery import shared_task\n@shared_task\ndef t(): ...\n"})
    before = dict(ix.kinds)
    resolver = ix.resolver()
    resolver.kinds["b.extra"] = "task"
    assert dict(ix.kinds) == before and resolver.kind("b.extra") == "task" and resolver.kind("a.t") == "task"


def test_a_settings_mapping_read_by_key_is_indexed():
    # Flask's docs: the Celery app reads its settings from app.config["CELERY"].
    ix = kinds({
        "web/__init__.py": """
            from celery import Celery
            def init(app):
                celery_app = Celery(app.name)
                celery_app.config_from_object(app.config["CELERY"])
            def other(app):
                Celery("x").config_from_object(app.config.get("CELERY_SETTINGS"))
            def third(app, celery_app):
                celery_app.conf.update(app.config["CELERY_CONF"])
            """,
    })

    assert ix.config_mapping_keys == frozenset({"CELERY", "CELERY_SETTINGS", "CELERY_CONF"})
    assert pickle.loads(pickle.dumps(ix)) == ix


def test_no_mapping_key_without_config_from_object():
    ix = kinds({"web.py": "config = {}\nvalue = config['CELERY']\nsettings.update(config['CACHE'])\n"})

    assert ix.config_mapping_keys == frozenset()


def test_apps_built_through_an_import_that_stays_on_celery():
    ix = kinds({
        "kept/celery.py": """
            import celery
            app = celery.Celery("kept")
            app.config_from_object("kept.celeryconfig")
            Step = celery.bootsteps.StartStopStep
            """,
        "kept/celeryconfig.py": "broker_url = 'redis://'\n",
        "moved/celery.py": """
            import celery
            app = celery.Celery("moved")
            app.config_from_object("moved.celeryconfig")
            Ignore = celery.exceptions.Ignore
            """,
        "moved/celeryconfig.py": "broker_url = 'redis://'\n",
    })

    assert ix.celery_side_apps == frozenset({"kept.celery.app"})
    assert ix.celery_side_config_modules == frozenset({"kept.celeryconfig"})
