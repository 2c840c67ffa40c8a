"""Read-only admin screens for tables that are written by services alone, and a search box
whose conditions the model admin writes itself (each one served by an index)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from common.admin_paginator import LargeTablePaginator


class IndexedSearchMixin:
    """The admin's search box, taken as one whole term (not split into words, quotes
    ignored) and turned into a condition by `search_condition`, which the model admin
    writes with indexed lookups only; `search_help_text` says what it finds."""

    def search_condition(self, term: str) -> Q | None:
        """The rows the term finds, or None when it can find none."""
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().strip('"').strip()
        if not term:
            return queryset, False
        condition = self.search_condition(term)
        return (queryset.filter(condition) if condition is not None else queryset.none()), False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing added, changed or deleted from the admin: the ledger is append-only."""

    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50  # a page of 100 rows costs its rendering twice over

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
