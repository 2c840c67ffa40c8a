"""Dashboard statement downloads, under /ledger/ beside the account pages."""

from django.urls import path

from statements import views

app_name = "statements"

urlpatterns = [
    path("accounts/<uuid:account_id>/statement/", views.statement_download, name="download"),
]
