from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "activity"

    def ready(self):
        from activity import signals  # noqa: F401 - connects the receivers
