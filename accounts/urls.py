"""Login, second factor and logout, under /accounts/ (the merchant API's accounts are elsewhere)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.identity import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("verify/", views.otp_verify, name="otp_verify"),
    path("enroll/", views.otp_enroll, name="otp_enroll"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
]
