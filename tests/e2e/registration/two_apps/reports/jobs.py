from mailer.app import notify
from reports.app import app


@app.task
def build_report(day):
    notify.delay(day)
    return day
