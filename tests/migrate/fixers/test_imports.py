"""CFQ101-CFQ103: imports."""

from fixer_helpers import check_noop, check_transformed, codes


def test_from_celery():
    check_transformed("from celery import Celery\n", "from cfq_shim import Celery\n")


def test_aliases_are_kept():
    check_transformed("from celery import Celery as C, shared_task as st\n", "from cfq_shim import Celery as C, shared_task as st\n")


def test_submodules():
    check_transformed(
        """\
        from celery.exceptions import Retry, Reject
        from celery.schedules import crontab
        from celery.result import AsyncResult
        from celery.signals import task_prerun
        from celery.app.task import Task
        from kombu.exceptions import OperationalError
        """,
        """\
        from cfq_shim.exceptions import Retry, Reject
        from cfq_shim.schedules import crontab
        from cfq_shim.result import AsyncResult
        from cfq_shim.signals import task_prerun
        from cfq_shim.task import Task
        from cfq_shim.exceptions import OperationalError
        """,
    )


def test_parenthesised_multiline_import_keeps_comments():
    check_transformed(
        """\
        from celery import (  # the app
            Celery,
            shared_task,  # tasks
        )
        """,
        """\
        from cfq_shim import (  # the app
            Celery,
            shared_task,  # tasks
        )
        """,
    )


def test_mixed_import_is_split():
    result = check_transformed(
        "from celery import Celery, bootsteps  # note\n",
        "from cfq_shim import Celery  # note\nfrom celery import bootsteps\n",
    )
    assert codes(result) == ["CFQ103"]


def test_mixed_parenthesised_import_is_split():
    check_transformed(
        "from celery import (\n    bootsteps,\n    Celery,\n)\n",
        "from cfq_shim import (\n    Celery,\n)\nfrom celery import (\n    bootsteps,\n)\n",
    )


def test_import_celery_as_alias():
    check_transformed("import celery as c\napp = c.Celery('x')\n", "import cfq_shim as c\napp = c.Celery('x')\n")


def test_import_celery_plain_renames_uses():
    check_transformed(
        "import celery\n\n@celery.shared_task\ndef t():\n    pass\n",
        "import cfq_shim\n\n@cfq_shim.shared_task\ndef t():\n    pass\n",
    )


def test_import_submodule_as_alias():
    check_transformed("import celery.exceptions as exc\nraise exc.Ignore()\n", "import cfq_shim.exceptions as exc\nraise exc.Ignore()\n")


def test_import_celery_with_unprovided_attribute_stays():
    result = check_noop("import celery\nstep = celery.bootsteps.StartStopStep\n")
    assert codes(result) == ["CFQ103"]


def test_bare_module_use_stays():
    result = check_noop("import celery\nprint(celery)\n")
    assert codes(result) == ["CFQ103"]


def test_unprovided_module_stays():
    result = check_noop("from celery.bin.worker import worker\n")
    assert codes(result) == ["CFQ103"]


def test_unprovided_dotted_import_stays():
    assert codes(check_noop("import celery.bin.worker\n")) == ["CFQ103"]


def test_star_import_of_provided_module():
    result = check_transformed("from celery.exceptions import *\n", "from cfq_shim.exceptions import *\n")
    assert codes(result) == ["CFQ103"]


def test_relative_import_named_celery_stays():
    assert codes(check_noop("from .celery import app\nfrom . import celery\n", path="proj/tasks.py")) == []


def test_other_libraries_stay():
    check_noop("from celery_utils import Celery\nimport celeryx\nfrom kombu import Queue\n")


def test_already_migrated_stays():
    check_noop("from cfq_shim import Celery\nimport cfq_shim as c\n")


def test_only_skip_codes():
    from celery2cfq.model import Options

    check_noop("from celery import Celery\n", options=Options(skip=frozenset({"CFQ101"})))
    check_noop("import celery as c\nc.Celery()\n", options=Options(only=frozenset({"CFQ101"})))


def test_import_celery_inside_a_function_checks_its_uses():
    result = check_noop("def shell():\n    import celery\n    return celery.bugreport, celery.Task\n")
    assert codes(result) == ["CFQ103"]


def test_import_celery_inside_a_function_with_provided_uses():
    check_transformed(
        "def make():\n    import celery\n    return celery.Celery('x')\n",
        "def make():\n    import cfq_shim\n    return cfq_shim.Celery('x')\n",
    )


def test_aliased_import_inside_a_function_stays():
    assert codes(check_noop("def make():\n    import celery as c\n    return c.Celery('x')\n")) == ["CFQ103"]


# --- attribute chains through a module import (``celery.exceptions.Ignore``) -----------------------


def test_import_celery_with_a_submodule_chain_imports_the_shim_submodule():
    # cfq_shim/__init__.py does not import cfq_shim.exceptions, so the chain needs its own import.
    check_transformed(
        """\
        import celery

        app = celery.Celery("p", broker="redis://x")

        @app.task
        def t():
            raise celery.exceptions.Ignore()
        """,
        """\
        import cfq_shim.exceptions
        import cfq_shim

        app = cfq_shim.Celery("p", broker="cloudflare://")

        @app.task
        def t():
            raise cfq_shim.exceptions.Ignore()
        """,
    )


def test_chains_map_through_the_name_table():
    check_transformed(
        """\
        import celery
        log = celery.utils.log.get_task_logger(__name__)
        every_hour = celery.schedules.crontab(minute=0)
        done = celery.states.SUCCESS
        celery.signals.task_success.connect(print)
        """,
        """\
        import cfq_shim.signals
        import cfq_shim
        log = cfq_shim.log.get_task_logger(__name__)
        every_hour = cfq_shim.schedules.crontab(minute=0)
        done = cfq_shim.states.SUCCESS
        cfq_shim.signals.task_success.connect(print)
        """,
    )


def test_chains_through_an_aliased_module_keep_the_alias():
    check_transformed(
        "import celery as c\nlog = c.utils.log.get_task_logger(__name__)\nerror = c.exceptions.Reject\n",
        "import cfq_shim.exceptions\nimport cfq_shim as c\nlog = c.log.get_task_logger(__name__)\nerror = c.exceptions.Reject\n",
    )


def test_dotted_imports_of_submodules_become_shim_submodules():
    check_transformed(
        "import celery.exceptions\nimport celery\napp = celery.Celery('p')\nerror = celery.exceptions.Retry\n",
        "import cfq_shim.exceptions\nimport cfq_shim\napp = cfq_shim.Celery('p')\nerror = cfq_shim.exceptions.Retry\n",
    )


def test_a_submodule_import_is_added_once_per_file():
    # Above the import: ``import cfq_shim.exceptions`` binds ``cfq_shim`` too, and a use later on the
    # same line (``import celery; x = celery.exceptions.X``) still finds the submodule loaded.
    check_transformed(
        "def a():\n    import celery\n    return celery.exceptions.Ignore\n\nimport celery\nerror = celery.exceptions.Retry\n",
        "def a():\n    import cfq_shim.exceptions\n    import cfq_shim\n    return cfq_shim.exceptions.Ignore\n\n"
        "import cfq_shim\nerror = cfq_shim.exceptions.Retry\n",
    )


def test_a_chain_the_shim_lacks_keeps_the_whole_module_on_celery():
    result = check_noop("import celery\nerror = celery.exceptions.Ignore\nstep = celery.contrib.abortable.AbortableTask\n")
    assert codes(result) == ["CFQ103"]
    assert "contrib.abortable.AbortableTask" in result.findings[0].message
    assert "exceptions" not in result.findings[0].message  # the shim has exceptions


def test_a_dotted_import_of_a_module_the_shim_lacks_keeps_celery():
    result = check_noop("import celery\nimport celery.bin.worker\napp = celery.Celery('p')\n")
    assert set(codes(result)) == {"CFQ103"}


def test_the_table_of_submodules_the_shim_package_imports_matches_the_package():
    # ``import cfq_shim`` makes ``cfq_shim.x`` usable only for submodules its __init__ imports.
    import ast
    import pathlib

    import cfq_shim
    from celery2cfq.names import SHIM_PACKAGE_IMPORTS

    tree = ast.parse(pathlib.Path(cfq_shim.__file__).read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            imported.update(f"cfq_shim.{node.module}" if node.module else f"cfq_shim.{a.name}" for a in node.names)
    assert SHIM_PACKAGE_IMPORTS == imported


def test_a_submodule_import_comes_before_a_use_on_the_same_line():
    check_transformed(
        "# why\nimport celery; x = celery.signals.task_success\n",
        "# why\nimport cfq_shim.signals\nimport cfq_shim; x = cfq_shim.signals.task_success\n",
    )
