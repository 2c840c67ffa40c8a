"""The dashboard's account pages, under /ledger/ (login and logout are under /accounts/)."""

from django.urls import path

from accounts.ledger import limit_views, views

app_name = "ledger"

urlpatterns = [
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/<uuid:account_id>/", views.account_detail, name="account_detail"),
    path(
        "accounts/<uuid:account_id>/instant-limits/",
        limit_views.instant_limits_request,
        name="instant_limits_request",
    ),
    path(
        "instant-limits/<int:change_id>/decide/",
        limit_views.instant_limit_decide,
        name="instant_limit_decide",
    ),
]
