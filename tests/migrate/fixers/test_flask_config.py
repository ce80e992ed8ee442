"""Flask keeps Celery's settings in its own config, under the key the Celery app reads with
``config_from_object(app.config["CELERY"])`` (Flask's "Background Tasks with Celery"): those
mappings are Celery configuration, so their broker is rewritten (CFQ201) or reported (CFQ202)."""

from fixer_helpers import check_noop, check_transformed, codes

#: The module that makes "CELERY" a settings mapping: the Celery app reads it by that key.
INIT = (
    "celery_app.py",
    "from celery import Celery\n\n\ndef init(app):\n    celery = Celery(app.name)\n"
    "    celery.config_from_object(app.config['CELERY'])\n    return celery\n",
)
FILES = dict([INIT])


def test_from_mapping_with_dict_keywords():
    check_transformed(
        """\
        def create_app(app):
            app.config.from_mapping(
                GREETING="Hello",
                CELERY=dict(
                    broker_url="redis://:secret@localhost",
                    task_ignore_result=True,
                ),
            )
        """,
        """\
        def create_app(app):
            app.config.from_mapping(
                GREETING="Hello",
                CELERY=dict(
                    broker_url="cloudflare://",
                    task_ignore_result=True,
                ),
            )
        """,
        path="web/factory.py",
        files=FILES,
    )


def test_environment_default_in_the_mapping_is_replaced_and_reported():
    result = check_transformed(
        "import os\napp.config.from_mapping(CELERY=dict(broker_url=os.environ.get('CELERY_BROKER_URL', 'redis://localhost')))\n",
        "import os\napp.config.from_mapping(CELERY=dict(broker_url=os.environ.get('CELERY_BROKER_URL', 'cloudflare://')))\n",
        path="web/factory.py",
        files=FILES,
    )
    assert codes(result) == ["CFQ202"]


def test_a_dict_literal_under_the_key_in_update_subscript_and_config_class():
    check_transformed(
        """\
        class Config:
            CELERY = {"broker_url": "amqp://guest@rabbit//"}

        app.config.update(CELERY={"broker_url": "redis://a"})
        app.config["CELERY"] = {"BROKER_URL": "redis://b"}
        app.config.from_mapping({"CELERY": dict(broker_url="sqs://")})
        """,
        """\
        class Config:
            CELERY = {"broker_url": "cloudflare://"}

        app.config.update(CELERY={"broker_url": "cloudflare://"})
        app.config["CELERY"] = {"broker_url": "cloudflare://"}
        app.config.from_mapping({"CELERY": dict(broker_url="cloudflare://")})
        """,
        path="web/config.py",
        files=FILES,
    )


def test_the_same_mapping_without_a_celery_app_reading_it_stays():
    # Nothing in the project reads app.config["CELERY"]: the key means nothing to Celery.
    result = check_noop(
        "app.config.from_mapping(CELERY=dict(broker_url='redis://localhost'))\n",
        path="web/factory.py",
        files={"celery_app.py": "from celery import Celery\napp = Celery('a')\n"},
    )
    assert codes(result) == []


def test_other_keys_and_other_calls_stay():
    check_noop(
        """\
        app.config.from_mapping(CACHE=dict(broker_url="redis://localhost"))
        cache = dict(broker_url="redis://localhost")
        """,
        path="web/factory.py",
        files=FILES,
    )
