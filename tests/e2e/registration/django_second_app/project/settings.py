SECRET_KEY = "registration-layouts-only"
INSTALLED_APPS = ["project"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
