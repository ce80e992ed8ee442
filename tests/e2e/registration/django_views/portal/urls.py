from django.urls import path

from mail import views as mail_views

urlpatterns = [path("inbox/", mail_views.inbox)]
