from celery import Celery

mail_app = Celery("mailer")


@mail_app.task
def notify(day):
    return day


@mail_app.task(shared=False)
def mailer_private():
    return None
