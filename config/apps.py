"""The admin app, with django-otp's two-factor admin site as `admin.site`."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "accounts.identity.admin_site.HubAdminSite"
