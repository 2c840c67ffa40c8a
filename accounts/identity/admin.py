"""Back-office screens for the hub's people and the audit trail: read, never rewritten."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

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
    list_select_related = ("merchant",)
    # UserAdmin sets its fieldsets; the stubs only know ModelAdmin's `... | None`.
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Merchant", {"fields": ("merchant",)}))  # type: ignore[misc]
    autocomplete_fields = ("merchant",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "ip", "action", "target_type", "target_id")
    list_filter = ("action", "target_type", ("at", admin.DateFieldListFilter))
    search_fields = ("=target_id", "actor_label", "action", "=ip")
    date_hierarchy = "at"
