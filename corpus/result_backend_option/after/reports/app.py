from cfq_shim import Celery

reports = Celery("reports", broker="cloudflare://", backend="sqlite:///results.db")


@reports.task
def render(report_id):
    return f"report-{report_id}"
