"""CFQ201-CFQ207: broker URLs, setting names, transport options and backends, in every site form."""

from fixer_helpers import check_noop, check_transformed, codes

from celery2cfq.model import Options

DJANGO_CELERY = (
    "proj/celery.py",
    "import os\nfrom celery import Celery\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n"
    "app = Celery('proj')\napp.config_from_object('django.conf:settings', namespace='CELERY')\n",
)
CONFIG_APP = ("proj/celery.py", "from celery import Celery\napp = Celery('proj')\napp.config_from_object('celeryconfig')\n")


def test_constructor_broker():
    check_transformed(
        "from celery import Celery\napp = Celery('p', broker='amqp://u:pw@host//')\n",
        "from cfq_shim import Celery\napp = Celery('p', broker='cloudflare://')\n",
    )


def test_other_broker_target():
    check_transformed(
        "from celery import Celery\napp = Celery('p', broker=\"redis://\")\n",
        "from cfq_shim import Celery\napp = Celery('p', broker=\"sqlite:///tmp/q.db\")\n",
        options=Options(broker="sqlite:///tmp/q.db"),
    )


def test_shim_brokers_stay():
    check_noop("from cfq_shim import Celery\napp = Celery('p', broker='memory://')\nb = Celery('b', broker='sqlite:///x')\n")


def test_fstring_and_concatenation_are_replaced_whole():
    check_transformed(
        "from celery import Celery\napp = Celery('p', broker=f'redis://{HOST}:6379')\napp.conf.broker_url = 'amqp://' + HOST\n",
        "from cfq_shim import Celery\napp = Celery('p', broker=\"cloudflare://\")\napp.conf.broker_url = \"cloudflare://\"\n",
    )


def test_conf_forms():
    check_transformed(
        """\
        from celery import Celery
        app = Celery('p')
        app.conf.update(broker_url='redis://', task_serializer='json')
        app.conf.update({'broker_url': 'redis://'})
        app.conf['broker_url'] = 'redis://'
        app.conf.BROKER_URL = 'redis://'
        """,
        """\
        from cfq_shim import Celery
        app = Celery('p')
        app.conf.update(broker_url='cloudflare://', task_serializer='json')
        app.conf.update({'broker_url': 'cloudflare://'})
        app.conf['broker_url'] = 'cloudflare://'
        app.conf.broker_url = 'cloudflare://'
        """,
    )


def test_environment_default_is_replaced_with_a_finding():
    result = check_transformed(
        "import os\nfrom celery import Celery\napp = Celery('p', broker=os.getenv('BROKER', default='redis://x'))\n",
        "import os\nfrom cfq_shim import Celery\napp = Celery('p', broker=os.getenv('BROKER', default='cloudflare://'))\n",
    )
    assert codes(result) == ["CFQ202"]


def test_environment_without_default_is_reported():
    result = check_noop("import os\nfrom cfq_shim import Celery\napp = Celery('p', broker=os.environ['BROKER'])\n")
    assert codes(result) == ["CFQ202"]


def test_unknown_transport_is_reported():
    result = check_noop("from cfq_shim import Celery\napp = Celery('p', broker='custom.Transport://x')\n")
    assert codes(result) == ["CFQ206"]


def test_redis_url_outside_celery_settings_stays():
    check_noop("from cfq_shim import Celery\nCACHE_URL = 'redis://localhost'\ncaches = {'default': {'LOCATION': 'redis://'}}\n")


def test_not_an_app_conf_stays():
    check_noop("from cfq_shim import Celery\nthing.conf.update(broker_url='redis://')\nother = Thing(broker='redis://')\n")


def test_flask_config_keys():
    check_transformed(
        "from celery import Celery\nflask_app.config.update(CELERY_BROKER_URL='redis://')\nflask_app.config['CELERY_BROKER_URL'] = 'redis://'\n",
        "from cfq_shim import Celery\nflask_app.config.update(CELERY_BROKER_URL='cloudflare://')\nflask_app.config['CELERY_BROKER_URL'] = 'cloudflare://'\n",
    )


def test_django_namespaced_settings():
    result = check_transformed(
        """\
        import os
        CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
        CELERY_TASK_ALWAYS_EAGER = False
        CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
        CACHE = "redis://cache"
        """,
        """\
        import os
        CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "cloudflare://")
        CELERY_TASK_ALWAYS_EAGER = False
        CELERY_BROKER_VISIBILITY_TIMEOUT = 60
        CACHE = "redis://cache"
        """,
        path="proj/settings.py",
        files=dict([DJANGO_CELERY]),
    )
    assert codes(result) == ["CFQ202"]


def test_old_names_in_a_config_module():
    check_transformed(
        "BROKER_URL = 'redis://'\nCELERYD_CONCURRENCY = 2\nprint(CELERYD_CONCURRENCY, x.CELERYD_CONCURRENCY)\n",
        "broker_url = 'cloudflare://'\nworker_concurrency = 2\nprint(worker_concurrency, x.CELERYD_CONCURRENCY)\n",
        path="celeryconfig.py",
        files=dict([CONFIG_APP]),
    )


def test_old_names_stay_without_cfq203():
    check_transformed(
        "BROKER_URL = 'redis://'\nCELERYD_CONCURRENCY = 2\n",
        "BROKER_URL = 'cloudflare://'\nCELERYD_CONCURRENCY = 2\n",
        path="celeryconfig.py",
        files=dict([CONFIG_APP]),
        options=Options(skip=frozenset({"CFQ203"})),
    )


def test_uppercase_names_in_an_unrelated_module_stay():
    check_noop("BROKER_URL = 'redis://'\nCELERYD_CONCURRENCY = 2\n", path="other.py")


def test_old_names_in_conf_update():
    check_transformed(
        "from celery import Celery\napp = Celery('p')\napp.conf.update(CELERY_TASK_SERIALIZER='json', CELERY_ACCEPT_CONTENT=['json'])\n",
        "from cfq_shim import Celery\napp = Celery('p')\napp.conf.update(task_serializer='json', accept_content=['json'])\n",
    )


def test_transport_options_without_visibility_timeout_are_kept():
    result = check_noop("from cfq_shim import Celery\napp = Celery('p')\napp.conf.broker_transport_options = {'max_retries': 3}\n")
    assert codes(result) == ["CFQ205"]


def test_transport_options_not_literal():
    result = check_noop("from cfq_shim import Celery\napp = Celery('p')\napp.conf.broker_transport_options = OPTIONS\n")
    assert codes(result) == ["CFQ205"]


def test_visibility_timeout_as_dict_key():
    check_transformed(
        "from celery import Celery\napp = Celery('p')\napp.conf.update({'broker_transport_options': {'visibility_timeout': 5}})\n",
        "from cfq_shim import Celery\napp = Celery('p')\napp.conf.update({'broker_visibility_timeout': 5})\n",
    )


def test_supported_result_backend_is_kept_quietly():
    result = check_noop("from cfq_shim import Celery\napp = Celery('p')\napp.conf.result_backend = 'redis://'\n")
    assert codes(result) == []


def test_credentials_never_survive():
    result = check_transformed(
        "from celery import Celery\napp = Celery('p', broker='amqp://admin:hunter2@rabbit//')\n",
        "from cfq_shim import Celery\napp = Celery('p', broker='cloudflare://')\n",
    )
    assert "hunter2" not in result.source and all("hunter2" not in f.message for f in result.findings)


def test_or_default_is_replaced():
    result = check_transformed(
        "import os\nfrom celery import Celery\napp = Celery('p', broker=os.environ.get('B') or 'redis://x')\n",
        "import os\nfrom cfq_shim import Celery\napp = Celery('p', broker=os.environ.get('B') or 'cloudflare://')\n",
    )
    assert codes(result) == ["CFQ202"]


def test_reports_never_repeat_a_literal_url():
    result = check_noop(
        "from cfq_shim import Celery\n"
        "app = Celery('p', broker=pick('amqp://admin:hunter2@rabbit//'))\n"
        "b = Celery('b', broker='user:hunter2@host:5672')\n"
        "c = Celery('c', broker=settings['amqp://admin:hunter2@x'])\n"
    )
    assert codes(result) == ["CFQ202", "CFQ206", "CFQ202"]
    assert all("hunter2" not in f.message for f in result.findings)


def test_list_of_brokers_is_reported():
    result = check_noop("from cfq_shim import Celery\napp = Celery('p', broker=['amqp://a//', 'amqp://b//'])\n")
    assert codes(result) == ["CFQ202"]
    assert "amqp" not in result.findings[0].message


def test_broker_none_is_quiet():
    assert codes(check_noop("from cfq_shim import Celery\napp = Celery('p', broker=None)\n")) == []


DJANGO_NO_NAMESPACE = (
    "proj/celery.py",
    "import os\nfrom celery import Celery\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n"
    "app = Celery('proj')\napp.config_from_object('django.conf:settings')\n",
)


def test_django_settings_without_namespace_keep_uppercase_names():
    check_transformed(
        "BROKER_URL = 'redis://'\nCELERYD_CONCURRENCY = 2\nBROKER_TRANSPORT_OPTIONS = {'visibility_timeout': 9}\n",
        "BROKER_URL = 'cloudflare://'\nCELERYD_CONCURRENCY = 2\nBROKER_VISIBILITY_TIMEOUT = 9\n",
        path="proj/settings.py",
        files=dict([DJANGO_NO_NAMESPACE]),
    )


def test_annotated_settings_class():
    check_transformed(
        "from celery import Celery\n\n\nclass Config:\n    CELERY_BROKER_URL: str = 'amqp://localhost'\n    CELERY_TIMEZONE: str = 'UTC'\n",
        "from cfq_shim import Celery\n\n\nclass Config:\n    CELERY_BROKER_URL: str = 'cloudflare://'\n    CELERY_TIMEZONE: str = 'UTC'\n",
    )


def test_settings_without_effect_are_kept_and_reported():
    result = check_transformed(
        "BROKER_HOST = 'rabbit'\nBROKER_PASSWORD = 'hunter2'\nBROKER_HEARTBEAT = 10\nCELERY_DEFAULT_ROUTING_KEY = 'x'\n",
        "broker_host = 'rabbit'\nbroker_password = 'hunter2'\nbroker_heartbeat = 10\ntask_default_routing_key = 'x'\n",
        path="celeryconfig.py",
        files=dict([CONFIG_APP]),
    )
    assert codes(result) == ["CFQ208"] * 4
    assert "credentials" in result.findings[1].message
    assert all("hunter2" not in f.message for f in result.findings)


def test_namespaced_setting_without_effect():
    result = check_noop("CELERY_BROKER_POOL_LIMIT = 0\nCELERY_TASK_DEFAULT_QUEUE = 'jobs'\n", path="proj/settings.py", files=dict([DJANGO_CELERY]))
    assert codes(result) == ["CFQ208"]


def test_two_findings_for_one_setting_on_one_line_are_one():
    # Read from the environment, with a list of URLs as the default: one finding says both.
    result = check_noop("import os\nfrom cfq_shim import Celery\napp = Celery('p')\napp.conf.broker_url = os.environ.get('X', ['amqp://a'])\n")
    assert [(f.code, f.line, f.message) for f in result.findings] == [(
        "CFQ202", 4,
        "broker_url is read from environment variable X: set it to cloudflare:// where the app runs; and is a list "
        "of URLs: replace it with cloudflare:// by hand",
    )]


def test_findings_for_two_settings_on_one_line_stay_apart():
    result = check_noop("import os\nfrom cfq_shim import Celery\napp = Celery('p', broker=os.getenv('B'), backend=os.getenv('R', 'rpc://'))\n")
    assert codes(result) == ["CFQ202", "CFQ207"]


def test_two_findings_of_different_rules_for_one_setting_are_one():
    result = check_noop("import os\nfrom cfq_shim import Celery\napp = Celery('p', broker=os.getenv('B', 'zmq://h'))\n")
    assert [(f.code, f.line, f.message) for f in result.findings] == [(
        "CFQ202", 3,
        "broker is read from environment variable B: set it to cloudflare:// where the app runs; and unknown "
        "transport 'zmq'; left as it is (CFQ206)",
    )]
