"""Dashboard pages of payments, under /payments/ (the merchant API's are under /api/v1/)."""

from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("", views.payment_search, name="search"),
    path("export.csv", views.payment_export, name="export"),
    path("<uuid:payment_id>/", views.payment_detail, name="detail"),
    path("<uuid:payment_id>/actions/", views.payment_action, name="action"),
    path("actions/", views.action_queue, name="actions"),
    path("actions/<uuid:action_id>/decision/", views.action_decision, name="action_decision"),
]
