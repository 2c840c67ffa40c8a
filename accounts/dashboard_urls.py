"""The dashboard's account pages, under /ledger/ (login and logout are under /accounts/)."""

from django.urls import path

from accounts.ledger import views

app_name = "ledger"

urlpatterns = [
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/<uuid:account_id>/", views.account_detail, name="account_detail"),
]
