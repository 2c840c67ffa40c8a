"""Dashboard pages of payments, under /payments/ (the merchant API's are under /api/v1/)."""

from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("", views.payment_search, name="search"),
    path("export.csv", views.payment_export, name="export"),
    path("<uuid:payment_id>/", views.payment_detail, name="detail"),
]
