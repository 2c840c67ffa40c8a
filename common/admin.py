"""Read-only admin screens for tables that are written by services alone."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from common.admin_paginator import LargeTablePaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing added, changed or deleted from the admin: the ledger is append-only."""

    show_full_result_count = False
    paginator = LargeTablePaginator

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent, never added, changed or deleted there."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False
