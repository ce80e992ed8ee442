from celery import Celery

app = Celery("reports", include=["reports.jobs"])
