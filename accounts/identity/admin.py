"""Back-office screens for the hub's people and the audit trail: read, never rewritten."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity.models import (
    AuditEvent,
    User,
)
from common.admin import ReadOnlyAdmin


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "merchant", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    search_help_text = "Part of a user name, e-mail address or name (any case)."
    list_select_related = ("merchant",)
    # UserAdmin sets its fieldsets; the stubs only know ModelAdmin's `... | None`.
    fieldsets = (  # type: ignore[misc]
        *DjangoUserAdmin.fieldsets,
        ("Merchant", {"fields": ("merchant",)}),
        ("Four eyes", {"fields": ("approval_barred_until",)}),
    )
    readonly_fields = ("approval_barred_until",)
    autocomplete_fields = ("merchant",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "ip", "action", "target_type", "target_id")
    list_filter = ("action", "target_type", ("at", admin.DateFieldListFilter))
    search_fields = ("=target_id", "actor_label", "action", "=ip")
    search_help_text = "An object's id or an address (exact), or part of a user name or action."
    date_hierarchy = "at"


# django-otp's own screen shows and edits the secret key (and draws its QR code):
# anyone who may open it could sign in as that person. Ours shows the device, never
# the key; deleting one is a reset of that person's second factor (accounts.identity.people).
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(ReadOnlyAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return bool(request.user.is_superuser)
