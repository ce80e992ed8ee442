"""The app: construction, settings, config_from_object, autodiscovery, routing, sending."""

from __future__ import annotations

import sys
import textwrap
import types
import warnings
from datetime import datetime, timedelta, timezone

import pytest

from cfq_shim import Celery, Task, current_app, shared_task
from cfq_shim.envelope import decode
from cfq_shim.exceptions import EncodeError, ImproperlyConfigured, NotConfigured, NotRegistered


def pull_all(app, queue="celery"):
    return [decode(m.body) for m in app.transport.pull(queue, batch_size=100, visibility_timeout_ms=60_000)]


# -- construction and settings ----------------------------------------------------------------------
def test_constructor_keywords_become_settings():
    app = Celery("proj", broker="memory://", backend="redis://x", include=["a.tasks"], task_default_queue="jobs")
    assert app.main == "proj"
    assert app.conf.broker_url == "memory://"
    assert app.conf.result_backend == "redis://x"
    assert app.conf.include == ("a.tasks",)
    assert app.conf["task_default_queue"] == "jobs"


def test_conf_attribute_item_and_update(app):
    app.conf.task_always_eager = True
    app.conf["task_eager_propagates"] = True
    app.conf.update(worker_concurrency=3, task_routes={"a": "b"})
    assert app.conf["task_always_eager"] and app.conf.task_eager_propagates
    assert app.conf.worker_concurrency == 3 and app.conf.get("task_routes") == {"a": "b"}
    assert app.conf.task_default_queue == "celery"  # Celery's default


def test_old_upper_case_names_are_translated(app):
    app.conf.update(CELERY_ALWAYS_EAGER=True, BROKER_URL="memory://", CELERYD_CONCURRENCY=2)
    assert app.conf.task_always_eager is True and app.conf.worker_concurrency == 2


def test_unknown_setting_warns_once_and_ignored_setting_is_silent(app):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app.conf.task_always_eagre = True
        app.conf.task_always_eagre = False
        app.conf.result_expires = 60  # a Celery setting with no meaning here: accepted, documented
        app.conf.worker_send_task_events = True
    unknown = [w for w in caught if issubclass(w.category, NotConfigured)]
    assert len(unknown) == 1 and "task_always_eagre" in str(unknown[0].message)


def test_a_frameworks_own_settings_pass_silently(app):
    """Flask's make_celery pattern: conf.update(flask_app.config)."""
    flask_config = {"DEBUG": True, "SECRET_KEY": "s3cr3t", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "CELERY_BROKER_URL": "memory://"}  # namespaced: kept, applied only with namespace=
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app.conf.update(flask_config)
        app.conf.update(CELERY_ALWAYS_EAGRE=True)
    assert app.conf["SECRET_KEY"] == "s3cr3t"
    messages = [str(w.message) for w in caught if issubclass(w.category, NotConfigured)]
    assert len(messages) == 1 and "CELERY_ALWAYS_EAGRE" in messages[0]


def test_non_json_serializer_setting_is_refused(app):
    with pytest.raises(ImproperlyConfigured, match="JSON only"):
        app.conf.task_serializer = "pickle"


def test_config_from_object_module_string_and_attr(tmp_path, monkeypatch):
    (tmp_path / "proj_settings.py").write_text(textwrap.dedent("""
        import os
        broker_url = "memory://"
        task_default_queue = "from-module"
        BASE_DIR = "/srv"
        class Config:
            task_default_queue = "from-class"
            task_acks_late = True
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("proj")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # module helpers (os, BASE_DIR) must not warn
        app.config_from_object("proj_settings")
    assert app.conf.task_default_queue == "from-module" and app.conf.broker_url == "memory://"
    app.config_from_object("proj_settings:Config")
    assert app.conf.task_default_queue == "from-class" and app.conf.task_acks_late is True
    app.config_from_object(types.SimpleNamespace(task_default_queue="from-object"))
    assert app.conf.task_default_queue == "from-object"


def test_django_settings_with_celery_namespace(monkeypatch):
    """The Django pattern, with a fake settings module instead of Django."""
    settings = types.SimpleNamespace(
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER=True,
        CELERY_TASK_ROUTES={"proj.*": {"queue": "proj"}},
        CELERY_ALWAYS_EAGER=True,
        DEBUG=True,
        BROKER_URL="redis://must-not-be-read",
        INSTALLED_APPS=["proj"],
    )
    fake = types.ModuleType("fake_django_conf")
    fake.settings = settings
    monkeypatch.setitem(sys.modules, "fake_django_conf", fake)
    app = Celery("proj")
    app.config_from_object("fake_django_conf:settings", namespace="CELERY")
    assert app.conf.broker_url == "memory://"
    assert app.conf.task_always_eager is True
    assert app.conf.task_routes == {"proj.*": {"queue": "proj"}}
    assert not app.conf.is_set("debug")


def test_namespace_given_to_the_app_applies_to_config_from_object():
    app = Celery("proj", namespace="CELERY")
    app.config_from_object({"CELERY_TASK_DEFAULT_QUEUE": "ns", "task_default_queue": "plain"})
    assert app.conf.task_default_queue == "ns"


def test_config_from_object_missing_module(app):
    app.config_from_object("no_such_settings_module", silent=True)
    assert app.conf.task_default_queue == "celery"
    app.config_from_object("no_such_settings_module")
    with pytest.raises(ImportError):
        app.conf.task_default_queue  # read when a setting is first used, as in Celery


def test_config_from_object_is_read_at_first_use_and_in_order(monkeypatch):
    """Django's settings must not be touched while Django is still importing the project package."""
    reads = []

    class LazySettings:
        def __dir__(self):
            reads.append("read")
            return ["CELERY_TASK_DEFAULT_QUEUE"]

        CELERY_TASK_DEFAULT_QUEUE = "from-django"

    fake = types.ModuleType("fake_lazy_conf")
    fake.settings = LazySettings()
    monkeypatch.setitem(sys.modules, "fake_lazy_conf", fake)
    app = Celery("lazy")
    app.config_from_object("fake_lazy_conf:settings", namespace="CELERY")
    assert reads == []
    @app.task
    def defined_meanwhile():  # defining a task does not read the settings either
        pass

    assert reads == []
    app.conf.task_default_queue = "explicit"  # set after: wins, as it would if read eagerly
    assert reads == ["read"] and app.conf.task_default_queue == "explicit"


# -- tasks ------------------------------------------------------------------------------------------
def test_task_decorator_forms(app):
    @app.task
    def bare():
        return "bare"

    @app.task(name="custom.name", max_retries=7, queue="q1")
    def with_options():
        return "opts"

    def plain():
        return "plain"

    called = app.task(plain)
    assert bare.name == f"{__name__}.bare" and bare() == "bare"
    assert with_options.name == "custom.name" and with_options.max_retries == 7 and with_options.queue == "q1"
    assert called.name.endswith(".plain") and called() == "plain"
    assert set(app.tasks) >= {bare.name, "custom.name", called.name}
    with pytest.raises(NotRegistered):
        app.tasks["nope"]


def test_duplicate_task_name_keeps_the_first_and_warns_once(app):
    from cfq_shim.exceptions import DuplicateTaskNameWarning

    @app.task(name="dup.name")
    def first():
        return "first"

    def second():
        return "second"

    with pytest.warns(DuplicateTaskNameWarning, match="dup.name"):
        kept = app.task(name="dup.name")(second)
    assert kept is first and app.tasks["dup.name"]() == "first"
    assert app.task(name="dup.name")(first) is first  # re-registering the same callable is silent


def test_non_json_task_serializer_is_an_error_at_definition(app):
    with pytest.raises(ImproperlyConfigured, match="serializer='pickle'.*JSON only"):
        @app.task(serializer="pickle")
        def pickled():
            pass


def test_compression_is_accepted(app):
    @app.task(compression="zlib")
    def compressed():
        return 1

    assert compressed.compression == "zlib"


def test_settings_fill_unset_task_options(app):
    app.conf.task_acks_late = True

    @app.task
    def late():
        pass

    @app.task(acks_late=False)
    def early():
        pass

    assert late.acks_late is True and early.acks_late is False


def test_shared_task_is_registered_in_every_app_and_uses_the_current_one():
    first = Celery("first", broker="memory://")

    @shared_task
    def shared_add(x, y):
        return x + y

    @shared_task(bind=True, name="shared.bound")
    def shared_bound(self):
        return self.name

    second = Celery("second", broker="memory://")
    assert shared_add.name in first.tasks and shared_add.name in second.tasks
    assert "shared.bound" in second.tasks
    assert shared_add.app is second  # the current app
    first.set_current()
    assert shared_add.app is first
    assert shared_add(2, 3) == 5 and shared_bound() == "shared.bound"


def test_flask_context_task_pattern(app):
    calls = []

    class ContextTask(app.Task):
        def __call__(self, *args, **kwargs):
            calls.append("in context")
            return self.run(*args, **kwargs)

    app.Task = ContextTask
    app.conf.task_always_eager = True

    @app.task
    def job(x):
        return x * 2

    assert isinstance(job, ContextTask)
    assert job.delay(4).get() == 8 and calls == ["in context"]


def test_subclassing_celery():
    class MyCelery(Celery):
        def on_init(self):
            self.initialised = True

        def gen_name(self):
            return self.main.upper()

    app = MyCelery("sub", broker="memory://")

    @app.task
    def job():
        return 1

    assert app.initialised and app.gen_name() == "SUB" and job.app is app


def test_subclass_can_override_gen_task_name():
    class ShortNames(Celery):
        def gen_task_name(self, name, module):
            return super().gen_task_name(name, "short")

    app = ShortNames("short", broker="memory://")

    @app.task
    def renamed():
        pass

    assert renamed.name == "short.renamed" and "short.renamed" in app.tasks


def test_current_app_follows_the_latest_app():
    app = Celery("latest", broker="memory://")
    assert current_app.main == "latest" and current_app._get_current_object() is app


# -- autodiscovery --------------------------------------------------------------------------------
def test_autodiscover_imports_tasks_lazily(tmp_path, monkeypatch):
    for package, body in {
        "autod_one": "from cfq_shim import shared_task\n@shared_task\ndef one():\n    return 1\n",
        "autod_two": None,  # a package without a tasks module is fine
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        if body:
            (tmp_path / package / "tasks.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("auto", broker="memory://")
    app.autodiscover_tasks(lambda: ["autod_one", "autod_two"])
    assert "autod_one.tasks" not in sys.modules
    assert "autod_one.tasks.one" in app.tasks
    assert "autod_one.tasks" in sys.modules


def test_autodiscover_does_not_hide_a_broken_tasks_module(tmp_path, monkeypatch):
    (tmp_path / "autod_broken").mkdir()
    (tmp_path / "autod_broken" / "__init__.py").write_text("")
    (tmp_path / "autod_broken" / "tasks.py").write_text("import not_installed_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("broken", broker="memory://")
    app.autodiscover_tasks(["autod_broken"])
    with pytest.raises(ModuleNotFoundError, match="not_installed_dependency"):
        app.tasks


def test_include_is_imported_when_tasks_are_needed(tmp_path, monkeypatch):
    (tmp_path / "included_tasks.py").write_text("from cfq_shim import shared_task\n@shared_task\ndef inc():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = Celery("inc", broker="memory://", include=["included_tasks"])
    assert "included_tasks.inc" in app.tasks


# -- routing ----------------------------------------------------------------------------------------
def test_queue_precedence(app):
    app.conf.task_routes = {"proj.routed": {"queue": "routed"}, "proj.glob.*": "globbed"}

    @app.task(name="proj.routed")
    def routed():
        pass

    @app.task(name="proj.glob.x")
    def globbed():
        pass

    @app.task(name="proj.routed_but_fixed", queue="fixed")
    def fixed():
        pass

    @app.task(name="proj.plain")
    def plain():
        pass

    assert app.queue_for("proj.routed") == "routed"
    assert app.queue_for("proj.glob.x") == "globbed"
    assert app.queue_for("proj.routed_but_fixed") == "fixed"
    assert app.queue_for("proj.plain") == "celery"
    app.conf.task_default_queue = "default"
    assert app.queue_for("proj.plain") == "default"  # the cache follows setting changes
    assert app.queues() == ["default", "fixed", "globbed", "routed"]
    routed.apply_async(queue="explicit")
    assert [e.task for e in pull_all(app, "explicit")] == ["proj.routed"]


def test_callable_router(app):
    def router(name, args, kwargs, options, task=None, **kw):
        return {"queue": "big"} if args and args[0] > 10 else None

    app.conf.task_routes = (router,)

    @app.task(name="proj.sized")
    def sized(n):
        pass

    sized.delay(100)
    sized.delay(1)
    assert [e.args for e in pull_all(app, "big")] == [[100]]
    assert [e.args for e in pull_all(app, "celery")] == [[1]]


# -- sending ----------------------------------------------------------------------------------------
def test_delay_sends_an_envelope(app):
    @app.task
    def add(x, y):
        return x + y

    result = add.delay(2, y=3)
    [envelope] = pull_all(app)
    assert (envelope.id, envelope.task, envelope.args, envelope.kwargs) == (result.id, add.name, [2], {"y": 3})
    assert envelope.root_id == result.id and envelope.parent_id is None and envelope.retries == 0


def test_apply_async_options(app):
    @app.task
    def job(x):
        pass

    eta = datetime(2030, 1, 1, tzinfo=timezone.utc)
    job.apply_async((1,), task_id="fixed-id", eta=eta, expires=60, headers={"tenant": "a"}, priority=9,
                    link=job.s(2), link_error=job.si(3), time_limit=30)
    assert pull_all(app) == []  # delayed
    assert app.transport.stats("celery").delayed == 1
    job.apply_async((1,), countdown=0, expires=datetime(2030, 1, 1), headers={"tenant": "b"}, exchange="x", routing_key="y")
    [envelope] = pull_all(app)
    assert envelope.expires == datetime(2030, 1, 1, tzinfo=timezone.utc) and envelope.headers == {"tenant": "b"}


def test_apply_async_link_and_eta_round_trip(app):
    @app.task
    def job(x):
        pass

    job.apply_async((1,), task_id="fixed-id", link=job.s(2), link_error=job.si(3), expires=60, time_limit=30, countdown=0.0)
    [envelope] = pull_all(app)
    assert envelope.id == "fixed-id" and envelope.time_limit == 30
    assert envelope.callbacks[0]["task"] == job.name and envelope.callbacks[0]["args"] == [2]
    assert envelope.errbacks[0]["immutable"] is True
    assert envelope.expires > datetime.now(timezone.utc) + timedelta(seconds=50)


def test_wrong_arguments_fail_at_call_time(app):
    @app.task
    def two(a, b):
        pass

    with pytest.raises(TypeError, match="two"):
        two.delay(1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        two.apply_async((1, 2), {"c": 3})
    two.delay(1, 2)
    assert len(pull_all(app)) == 1  # only the valid call was sent


def test_args_must_be_a_sequence_and_kwargs_a_mapping(app):
    @app.task
    def job(x):
        pass

    with pytest.raises(TypeError, match="list or tuple"):
        job.apply_async("x")
    with pytest.raises(TypeError, match="mapping"):
        app.send_task("x.y", args=[1], kwargs=[("a", 1)])


def test_unencodable_arguments_send_nothing(app):
    @app.task
    def job(x):
        pass

    job.delay(1)
    with pytest.raises(EncodeError, match=rf"{job.name}.*JSON"):
        job.delay(object())
    with pytest.raises(EncodeError, match=rf"{job.name}.*\d+ bytes"):
        job.delay("x" * app.limits.max_message_bytes)
    assert len(pull_all(app)) == 1


def test_send_task_by_name(app):
    result = app.send_task("other.service.task", args=[1], kwargs={"a": 2}, queue="other")
    [envelope] = pull_all(app, "other")
    assert envelope.task == "other.service.task" and envelope.id == result.id


def test_send_task_ignores_always_eager_with_a_warning(app):
    from cfq_shim.exceptions import AlwaysEagerIgnored

    app.conf.task_always_eager = True
    with pytest.warns(AlwaysEagerIgnored):
        app.send_task("x.y")
    assert len(pull_all(app)) == 1


def test_task_sent_from_a_running_task_gets_parent_and_root(app):
    from cfq_shim.execution import Delivery, execute

    @app.task(bind=True)
    def parent(self):
        child.delay()

    @app.task
    def child():
        pass

    parent.apply_async(task_id="p-1", root_id="root-1")
    [parent_envelope] = pull_all(app)
    execute(app, parent_envelope, Delivery("m", "celery", 1, "h"))
    [child_envelope] = pull_all(app)
    assert child_envelope.parent_id == "p-1" and child_envelope.root_id == "root-1"


def test_queues_are_declared_with_a_dead_letter_queue(app):
    @app.task
    def job():
        pass

    job.delay()
    settings = app.transport.queue_settings("celery")
    assert settings.dead_letter_queue == "celery-dlq"


def test_default_broker_is_the_embedded_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CFQ_SHIM_BROKER_URL", raising=False)
    app = Celery("zero")
    assert app.broker_url == "sqlite:///.cfq-shim/queues.sqlite3"
    monkeypatch.setenv("CFQ_SHIM_BROKER_URL", "memory://")
    assert app.broker_url == "memory://"
    monkeypatch.delenv("CFQ_SHIM_BROKER_URL")

    @app.task
    def job():
        pass

    job.delay()
    assert (tmp_path / ".cfq-shim" / "queues.sqlite3").exists()
    app.close()


def test_redis_broker_fails_with_advice():
    from cfq_shim.transport import UnsupportedBrokerURL

    app = Celery("old", broker="redis://:secret@localhost:6379/0")

    @app.task
    def job():
        pass

    with pytest.raises(UnsupportedBrokerURL) as caught:
        job.delay()
    assert "secret" not in str(caught.value) and "sqlite:///" in str(caught.value)


def test_reset_after_fork_forgets_the_transport_without_closing_it(app):
    @app.task
    def job():
        pass

    job.delay()
    parents = app.transport
    app.reset_after_fork()
    assert app._transport is None and app._producer is None
    assert parents.stats("celery").ready == 1  # still usable: not closed
    job.delay()
    assert app.transport is not parents


def test_autodiscover_without_packages_uses_djangos_installed_apps(tmp_path, monkeypatch):
    """The Django pattern, with fake django.conf settings (Django itself is not needed)."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "apps.py").write_text("class ShopConfig:\n    name = 'shop'\n")
    (tmp_path / "shop" / "tasks.py").write_text("from cfq_shim import shared_task\n@shared_task\ndef ship():\n    return 'shipped'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    django = types.ModuleType("django")
    django_conf = types.ModuleType("django.conf")
    django_conf.settings = types.SimpleNamespace(
        INSTALLED_APPS=["json", "shop.apps.ShopConfig", types.SimpleNamespace(name="shop")],
        CELERY_TASK_ALWAYS_EAGER=True,
    )
    monkeypatch.setitem(sys.modules, "django", django)
    monkeypatch.setitem(sys.modules, "django.conf", django_conf)
    app = Celery("djangoish", broker="memory://")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    assert "shop.tasks.ship" in app.tasks
    assert app.tasks["shop.tasks.ship"].delay().get() == "shipped"


def test_worker_main_runs_the_cli_with_this_app(monkeypatch):
    import cfq_shim.cli

    module = types.ModuleType("worker_main_project")
    module.application = Celery("wm", broker="memory://")
    monkeypatch.setitem(sys.modules, "worker_main_project", module)
    calls = []
    monkeypatch.setattr(cfq_shim.cli.main, "main", lambda args: calls.append(args))
    module.application.worker_main(["-l", "info"])
    module.application.start(["inspect"])
    assert calls == [["-A", "worker_main_project:application", "worker", "-l", "info"],
                     ["-A", "worker_main_project:application", "inspect"]]
    with pytest.raises(ImproperlyConfigured, match="module-level name"):
        Celery("orphan", broker="memory://").worker_main()


def test_class_based_task_registration(app):
    app.conf.task_always_eager = True

    class Multiply(Task):
        name = "proj.multiply"
        max_retries = 1

        def run(self, x, y):
            return x * y

    registered = app.register_task(Multiply())
    assert app.tasks["proj.multiply"] is registered and registered.app is app
    assert registered.delay(3, 4).get() == 12
    assert app.register_task(type("Unnamed", (Task,), {"run": lambda self: 1})).name.endswith(".Unnamed")


def test_an_unnamed_periodic_task_that_shadows_another_is_logged_as_celery_does(app, caplog):
    @app.task
    def tick():
        return 1

    app.add_periodic_task(10.0, tick.s())
    with caplog.at_level("WARNING", logger="cfq_shim.app"):
        app.add_periodic_task(20.0, tick.s())
    assert "shadowed a previous unnamed periodic task" in caplog.text
    assert len(app.conf.beat_schedule) == 1


def test_the_app_is_the_runtime_the_worker_provision_and_admin_take(app):
    from cfq_shim.runtime import Runtime

    assert isinstance(app, Runtime)  # every member of the protocol exists on Celery
    members = {name for name in vars(Runtime) if not name.startswith("_")} | set(Runtime.__annotations__)
    assert {"conf", "tasks", "transport", "producer", "queues", "queue_settings", "reset_after_fork"} <= members
