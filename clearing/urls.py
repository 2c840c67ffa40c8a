from django.urls import path

from clearing import inbox

urlpatterns = [path("v1/messages/", inbox.messages, name="clearing-messages")]
