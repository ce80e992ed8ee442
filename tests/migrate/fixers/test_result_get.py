"""CFQ502: reading a task's result where no backend is configured."""

from fixer_helpers import check_noop, check_transformed, codes

APP = "from cfq_shim import Celery, shared_task\napp = Celery('p')\n"


def test_result_get_without_backend():
    result = check_noop(APP + "@shared_task\ndef add():\n    pass\nr = add.delay()\nr.get()\nadd.apply_async().get()\n")
    assert codes(result) == ["CFQ502", "CFQ502"]


def test_result_get_with_backend_is_quiet():
    result = check_noop(
        "from cfq_shim import Celery, shared_task\napp = Celery('p', backend='redis://')\n"
        "@shared_task\ndef add():\n    pass\nr = add.delay()\nr.get()\n"
    )
    assert codes(result) == []


def test_dict_get_is_quiet():
    assert codes(check_noop(APP + "d = {}\nd.get('x')\n")) == []


def _lines(result):
    return [(f.code, f.line) for f in result.findings]


def test_flask_status_route_reads_state_and_info_without_a_backend():
    # Before issue 8 only .get() was reported: .state/.info on a route passed and failed at run time.
    tasks = "from celery import shared_task\n\n@shared_task(bind=True)\ndef long_task(self):\n    self.update_state(state='PROGRESS', meta={'current': 1})\n"
    route = (
        "from proj.tasks import long_task\n\n"
        "def status(task_id):\n"
        "    task = long_task.AsyncResult(task_id)\n"
        "    if task.state == 'PENDING':\n"
        "        return {'state': task.state}\n"
        "    return {'state': task.state, 'info': task.info, 'done': task.ready()}\n"
    )
    result = check_noop(route, path="proj/views.py", files={"proj/tasks.py": tasks})
    assert _lines(result) == [("CFQ502", 4), ("CFQ502", 5), ("CFQ502", 6), ("CFQ502", 7)]
    assert result.findings[0].message.startswith("AsyncResult(...) needs a result backend, and none is configured")
    on_task = check_transformed(tasks, tasks.replace("from celery", "from cfq_shim"), path="proj/tasks.py", files={"proj/views.py": route})
    assert _lines(on_task) == [("CFQ502", 5)]
    assert on_task.findings[0].message.startswith("update_state() needs a result backend")


def test_async_result_by_id_and_its_methods():
    source = (
        "from celery.result import AsyncResult\nfrom proj.celery import app\n\n"
        "def poll(job_id):\n    res = AsyncResult(job_id, app=app)\n    return res.status, res.successful()\n"
        "\ndef once(job_id):\n    return AsyncResult(job_id).result\n"
    )
    result = check_transformed(source, source.replace("from celery.result", "from cfq_shim.result"),
                               path="proj/poll.py", files={"proj/celery.py": "from celery import Celery\napp = Celery('proj')\n"})
    assert _lines(result) == [("CFQ502", 5), ("CFQ502", 6), ("CFQ502", 9)]


def test_reads_are_quiet_when_the_project_configures_a_backend_elsewhere():
    files = {"proj/celery.py": "from celery import Celery\napp = Celery('proj', backend='redis://localhost/1')\n"}
    source = "from proj.celery import app\n\ndef status(job_id):\n    return app.AsyncResult(job_id).state\n"
    assert codes(check_noop(source, path="proj/views.py", files=files)) == []


def test_update_state_outside_a_task_and_state_on_other_objects_are_quiet():
    source = APP + "def helper(self):\n    self.update_state(state='X')\n\nclass Machine:\n    state = 'idle'\n\nm = Machine()\nprint(m.state)\n"
    assert codes(check_noop(source)) == []


def test_update_state_in_a_task_class():
    source = APP + "from cfq_shim import Task\n\nclass Progress(Task):\n    def run(self):\n        self.update_state(state='PROGRESS')\n"
    assert _lines(check_noop(source)) == [("CFQ502", 7)]
