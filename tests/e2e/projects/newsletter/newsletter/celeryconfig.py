# Pre-4.0 setting names, as many long-lived projects still have them.
BROKER_URL = "amqp://newsletter:s3cret-pw@rabbit:5672//"
BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 120}
CELERY_DEFAULT_QUEUE = "mail"
CELERY_ACKS_LATE = True
CELERY_TASK_SERIALIZER = "json"
CELERYD_PREFETCH_MULTIPLIER = 1
CELERY_ROUTES = {"newsletter.tasks.render": {"queue": "templates"}}
