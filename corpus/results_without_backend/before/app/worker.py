from celery import Celery, chord

celery_app = Celery("app", broker="amqp://guest:guest@rabbit:5672//")


@celery_app.task(bind=True)
def long_task(self, steps):
    for step in range(steps):
        self.update_state(state="PROGRESS", meta={"step": step})
    return steps


@celery_app.task
def total(values):
    return sum(values)


def fan_in(items):
    return chord(long_task.s(n) for n in items)(total.s())
