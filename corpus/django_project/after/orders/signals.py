from cfq_shim.signals import beat_init, task_failure, worker_ready


@worker_ready.connect
def on_ready(sender, **kwargs):
    print("ready")


@task_failure.connect(weak=False)
def on_failure(sender=None, task_id=None, **kwargs):
    print("failed", task_id)


@beat_init.connect
def on_beat(sender, **kwargs):
    print("beat")
