from celery import Celery

reports = Celery("reports", broker="amqp://guest@rabbit//", backend="rpc://")


@reports.task
def render(report_id):
    return f"report-{report_id}"
