from mailer import send_mail_later

from tasks import cleanup


def signup(email):
    send_mail_later.delay(email)
    send_mail_later.apply_async((email,), priority=3)
    cleanup.delay()
