"""Back-office screens for the hub's people and the audit trail: read, never rewritten."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import grants, roles
from accounts.identity.audit import Actor
from accounts.identity.models import (
    AuditEvent,
    RoleGrant,
    User,
)
from common.admin import ReadOnlyAdmin
from common.errors import DomainError


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


class GrantRequestForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(merchant__isnull=True, is_active=True).order_by("username"),
        help_text="Whose person receives the role.",
    )
    role = forms.ChoiceField(choices=[(role, role) for role in roles.STAFF_ROLES])
    reason = forms.CharField(
        max_length=500, help_text="Why: it goes to the approver and the trail."
    )


class GrantDecisionForm(forms.Form):
    otp_token = forms.CharField(
        label="Authenticator code",
        max_length=8,
        help_text="A fresh code: a grant is a decision under four eyes, signed.",
    )


@admin.register(RoleGrant)
class RoleGrantAdmin(ReadOnlyAdmin):
    """Roles given to persons: asked for here, approved by another holder of the admin role
    with a fresh code (accounts/identity/grants.py), revoked at once."""

    list_display = (
        "person",
        "role",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
        "revoked_at",
        "decide",
    )
    list_filter = ("role", ("approved_at", admin.EmptyFieldListFilter))
    search_fields = ("person__name", "person__users__username")
    list_select_related = ("person", "requested_by", "approved_by")
    change_list_template = "admin/accounts/rolegrant/change_list.html"

    @admin.display(description="")
    def decide(self, grant: RoleGrant) -> str:
        if grant.revoked_at is not None:
            return ""
        label = "Approve or revoke…" if grant.approved_at is None else "Revoke…"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:accounts_rolegrant_decide", args=[grant.pk]),
            label,
        )

    def get_urls(self):
        own = [
            path("ask/", self.admin_site.admin_view(self.ask_view), name="accounts_rolegrant_ask"),
            path(
                "<int:grant_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="accounts_rolegrant_decide",
            ),
        ]
        return [*own, *super().get_urls()]

    def ask_view(self, request: HttpRequest):
        form = GrantRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                grants.role_grant_request(
                    user=form.cleaned_data["user"],
                    role=form.cleaned_data["role"],
                    reason=form.cleaned_data["reason"],
                    actor=Actor.from_request(request),
                )
            except DomainError as error:
                messages.error(request, f"Not asked: {error.detail}.")
            else:
                messages.success(request, "Asked: another admin must approve it, signed.")
                return redirect("admin:accounts_rolegrant_changelist")
        return TemplateResponse(
            request,
            "admin/accounts/rolegrant/form.html",
            {**self.admin_site.each_context(request), "form": form, "title": "Ask for a role"},
        )

    def decide_view(self, request: HttpRequest, grant_id: int):
        grant = get_object_or_404(RoleGrant, pk=grant_id)
        form = GrantDecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            actor = Actor.from_request(request)
            try:
                if "revoke" in request.POST:
                    grants.role_grant_revoke(grant_id=grant.pk, actor=actor, reason="revoked")
                else:
                    grants.role_grant_approve(
                        grant_id=grant.pk, actor=actor, otp_token=form.cleaned_data["otp_token"]
                    )
            except DomainError as error:
                messages.error(request, f"Not done: {error.detail}.")
            else:
                messages.success(request, "Done.")
                return redirect("admin:accounts_rolegrant_changelist")
        return TemplateResponse(
            request,
            "admin/accounts/rolegrant/form.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "title": f"Approve or revoke: {grant}",
                "grant": grant,
            },
        )
