from django.http import HttpResponse

from mail.emails import send_welcome_email
from mail.inbox import refresh_inbox


def inbox(request):
    refresh_inbox.delay(request.user.pk)
    send_welcome_email.delay(request.user.pk)
    return HttpResponse("ok")
