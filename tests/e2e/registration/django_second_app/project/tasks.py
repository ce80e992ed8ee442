from celery import Celery

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task
def send_email(to):
    return to


@app.task(bind=True, max_retries=3)
def sync_inbox(self, user_id):
    return user_id


@app.task(shared=False)
def only_on_this_app():
    return None
