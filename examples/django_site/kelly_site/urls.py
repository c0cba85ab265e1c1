"""The example site's pages: the image studio (a sync view) and the chat (an async view)."""

from django.urls import path
from studio import views

urlpatterns = [
    path("", views.image, name="image"),
    path("chat/", views.chat, name="chat"),
]
