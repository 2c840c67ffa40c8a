"""Back-office screens of the clearing network: peers (changed only by a proposal that
another admin approves, clearing/peers.py), every document exchanged (read-only, with its
bytes) and the positions."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.identity.audit import Actor
from accounts.ledger import money
from clearing import peers, services
from clearing.models import ClearingAccount, Message, Peer, PeerChange
from common.admin import ReadOnlyAdmin
from common.errors import DomainError


class PeerForm(forms.ModelForm):
    """The service's checks, shown on the form (a refusal never reaches save_model)."""

    class Meta:
        model = Peer
        fields = ("bic", "url", "public_key", "iban_prefixes")

    def clean(self):
        data = super().clean() or {}
        try:
            services.check_peer(
                bic=data.get("bic") or "",
                url=data.get("url") or "",
                public_key=data.get("public_key") or "",
                iban_prefixes=list(data.get("iban_prefixes") or []),
            )
        except services.ClearingError as error:
            raise forms.ValidationError(error.detail) from None
        return data


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    form = PeerForm
    list_display = ("bic", "url", "prefixes", "active", "updated_at")
    search_fields = ("bic",)
    list_filter = ("active",)
    readonly_fields = ("created_at", "updated_at")
    fields = ("bic", "url", "public_key", "iban_prefixes", "created_at", "updated_at")

    @admin.display(description="IBAN prefixes")
    def prefixes(self, obj: Peer) -> str:
        return ", ".join(obj.iban_prefixes)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        # A BIC is the peer's identity: another BIC is another peer.
        return (*self.readonly_fields, "bic") if obj else self.readonly_fields

    def save_model(self, request, obj: Peer, form, change) -> None:
        # A proposal, applied once another admin approves it: never a bare save.
        try:
            peers.peer_propose(
                bic=obj.bic,
                url=obj.url,
                public_key=obj.public_key,
                iban_prefixes=list(obj.iban_prefixes),
                actor=Actor.from_request(request),
            )
        except DomainError as error:
            messages.error(request, f"Not proposed: {error.detail}.")
        else:
            messages.warning(
                request,
                f"The change of {obj.bic} is proposed: it takes effect once another admin "
                "approves it.",
            )

    def save_related(self, request, form, formsets, change) -> None:
        pass  # nothing was saved: the proposal waits

    def log_addition(self, request, obj, message):
        pass  # the audit trail has the proposal (the peer does not exist yet)

    def log_change(self, request, obj, message):
        pass

    def response_add(self, request, obj, post_url_continue=None):
        return redirect("admin:clearing_peerchange_changelist")

    def response_change(self, request, obj):
        return redirect("admin:clearing_peerchange_changelist")


@admin.register(PeerChange)
class PeerChangeAdmin(ReadOnlyAdmin):
    """Proposed peers and changes of peers; another admin approves (or rejects) each, signed."""

    list_display = ("proposed_at", "bic", "status", "proposed_by", "decided_by", "decision")
    list_filter = ("status",)
    search_fields = ("=bic",)
    fields = (
        "bic",
        "status",
        "what_changes",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    readonly_fields = fields
    actions = None

    @admin.display(description="before → after")
    def what_changes(self, obj: PeerChange) -> str:
        before = obj.before or {}
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (key, before.get(key, "—"), value)
                for key, value in obj.after().items()
                if before.get(key) != value
            ),
        )
        return format_html("<table>{}</table>", rows)

    @admin.display(description="decision")
    def decision(self, obj: PeerChange) -> str:
        if obj.status != PeerChange.Status.PENDING:
            return obj.get_status_display()
        url = reverse("admin:clearing_peerchange_decide", args=[obj.pk])
        return format_html('<a href="{}">Approve or reject…</a>', url)

    def get_urls(self):
        decide = path(
            "<int:change_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="clearing_peerchange_decide",
        )
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, change_id: int):
        change = get_object_or_404(PeerChange, pk=change_id)
        if request.method == "POST":
            actor = Actor.from_request(request)
            otp_token = request.POST.get("otp_token", "")
            try:
                if request.POST.get("decision") == "approve":
                    peers.peer_change_approve(change_id=change.pk, actor=actor, otp_token=otp_token)
                    messages.success(request, f"Approved: {change.bic} is changed now.")
                else:
                    peers.peer_change_reject(
                        change_id=change.pk,
                        actor=actor,
                        otp_token=otp_token,
                        reason=request.POST.get("reason", ""),
                    )
                    messages.success(request, "Rejected.")
            except DomainError as error:
                messages.error(request, f"Not done: {error.detail}.")
            else:
                return redirect("admin:clearing_peerchange_changelist")
        return TemplateResponse(
            request,
            "admin/clearing/peerchange/decide.html",
            {
                **self.admin_site.each_context(request),
                "change": change,
                "what_changes": self.what_changes(change),
                "title": f"A change of the peer {change.bic}",
            },
        )


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "direction",
        "peer",
        "kind",
        "msg_id",
        "uetr",
        "status",
        "reason_code",
    )
    list_filter = ("direction", "kind", "status", "peer")
    search_fields = ("=msg_id",)
    search_help_text = "a MsgId or a UETR, whole"
    list_select_related = ("peer",)
    readonly_fields = (
        "direction",
        "peer",
        "kind",
        "msg_id",
        "uetr",
        "status",
        "reason_code",
        "answers",
        "payment",
        "attempts",
        "last_error",
        "created_at",
        "updated_at",
        "document",
    )
    exclude = ("body",)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        try:
            return queryset.filter(uetr=uuid.UUID(term)), False
        except ValueError:
            return queryset.filter(msg_id=term) if term else queryset, False

    @admin.display(description="document")
    def document(self, obj: Message) -> str:
        return format_html("<pre>{}</pre>", bytes(obj.body).decode("utf-8", "replace"))


@admin.register(ClearingAccount)
class ClearingAccountAdmin(ReadOnlyAdmin):
    list_display = ("peer", "currency", "account", "position")
    list_select_related = ("peer", "account")

    @admin.display(description="position (owed to us if positive)")
    def position(self, obj: ClearingAccount) -> str:
        return money.to_major(-obj.account.balance, obj.currency)
