from celery import Celery

app = Celery("shop")
app.autodiscover_tasks(["shop.orders", "shop.stock"])
app.autodiscover_tasks(lambda: ["shop.audit"], related_name="jobs")
app.autodiscover_tasks(["shop.warehouse"], force=True)
