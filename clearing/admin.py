"""Back-office screens of the clearing network: peers (changed only through the audited
service), every document exchanged (read-only, with its bytes) and the positions."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.identity.audit import Actor
from accounts.ledger import money
from clearing import services
from clearing.models import ClearingAccount, Message, Peer
from common.admin import ReadOnlyAdmin


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

    def save_model(self, request, obj: Peer, form, change) -> None:
        # Through the service, audited: never a bare save.
        saved = services.peer_save(
            bic=obj.bic,
            url=obj.url,
            public_key=obj.public_key,
            iban_prefixes=list(obj.iban_prefixes),
            actor=Actor.from_request(request),
        )
        obj.pk = saved.pk


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
