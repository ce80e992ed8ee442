"""A project's own queue helper with a .delay() method: not Celery."""


class Deferred:
    def __init__(self, fn):
        self.fn = fn

    def delay(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def apply_async(self, args=(), priority=0):
        return self.fn(*args)


def send_mail(to):
    return to


send_mail_later = Deferred(send_mail)
