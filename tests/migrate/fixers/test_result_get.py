"""CFQ502: result .get() without a backend."""

from fixer_helpers import check_noop, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_result_get_without_backend():
    result = check_noop(APP + "@shared_task\ndef add():\n    pass\nr = add.delay()\nr.get()\nadd.apply_async().get()\n")
    assert codes(result) == ["CFQ502", "CFQ502"]


def test_result_get_with_backend_is_quiet():
    result = check_noop(
        "from cfq_shim import Celery, shared_task\napp = Celery('p', backend='redis://')\n"
        "@shared_task\ndef add():\n    pass\nr = add.delay()\nr.get()\n"
    )
    assert codes(result) == ["CFQ207"]


def test_dict_get_is_quiet():
    assert codes(check_noop(APP + "d = {}\nd.get('x')\n")) == []
