"""Back-office screens of sanctions screening: lists (and their upload), entries, alerts.

Nothing is edited by hand: a list comes in through the import form (audited), an alert is
decided through its decide form, which calls `services.alert_decide` (four eyes: the
second person takes or rejects the first one's proposal). Lists, alerts and decisions
export as CSV (every cell through common.csvsafe).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.identity import audit
from accounts.identity.actions import AuditAction
from accounts.identity.audit import Actor
from accounts.ledger.errors import LedgerError
from common.admin import ReadOnlyAdmin, ReadOnlyInline
from common.csvsafe import csv_lines
from compliance import services
from compliance.forms import DecideForm, ImportForm
from compliance.models import (
    AlertProposal,
    SanctionsEntry,
    SanctionsList,
    SanctionsName,
    ScreeningAlert,
)


def csv_response(name: str, header: list[str], rows: Iterable[Iterable[Any]]) -> HttpResponseBase:
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


def _write_csv(
    name: str, queryset: QuerySet[Any], header: list[str], row: Any, request: HttpRequest
) -> HttpResponseBase:
    audit.record(
        actor=Actor.from_request(request),
        action=AuditAction.SANCTIONS_EXPORT,
        target=None,
        after={"what": name, "count": queryset.count()},
    )
    return csv_response(name, header, (row(obj) for obj in queryset.iterator()))


@admin.register(SanctionsList)
class SanctionsListAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "version",
        "published",
        "imported_at",
        "entry_count",
        "name_count",
        "current",
        "imported_by",
    )
    list_filter = ("source", "current")
    fields = (
        "source",
        "version",
        "published",
        "imported_at",
        "imported_by",
        "entry_count",
        "name_count",
        "current",
        "sha256",
        "files",
    )
    readonly_fields = fields
    actions = ["export_csv"]
    change_list_template = "admin/compliance/sanctionslist/change_list.html"

    @admin.action(description="Export the selected list versions (CSV)")
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[SanctionsList]
    ) -> HttpResponseBase:
        header = [
            "source",
            "version",
            "published",
            "imported_at",
            "imported_by",
            "entries",
            "names",
            "current",
            "sha256",
            "files",
        ]
        return _write_csv(
            "sanctions-lists",
            queryset,
            header,
            lambda s: [
                s.source,
                s.version,
                s.published,
                s.imported_at.isoformat(),
                s.imported_by,
                s.entry_count,
                s.name_count,
                s.current,
                s.sha256,
                " ".join(s.files),
            ],
            request,
        )

    def has_import_permission(self, request: HttpRequest) -> bool:
        return bool(
            request.user.is_superuser or request.user.has_perm("compliance.add_sanctionslist")
        )

    def get_urls(self) -> list[Any]:
        upload = path(
            "import/",
            self.admin_site.admin_view(self.import_view),
            name="compliance_sanctionslist_import",
        )
        return [upload, *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        back = reverse("admin:compliance_sanctionslist_changelist")
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            with tempfile.TemporaryDirectory() as folder:
                paths = []
                for upload in form.cleaned_data["files"]:
                    # The name only tells OFAC's three files apart: no directory from outside.
                    target = Path(folder) / Path(upload.name).name.replace("\x00", "")[:100]
                    with open(target, "wb") as handle:
                        for chunk in upload.chunks():
                            handle.write(chunk)
                    paths.append(str(target))
                try:
                    imported, created = services.sanctions_list_import(
                        source=form.cleaned_data["format"],
                        paths=paths,
                        actor=Actor.from_request(request),
                    )
                except LedgerError as error:
                    form.add_error(None, error.detail)
                else:
                    if created:
                        self.message_user(
                            request,
                            f"Imported {imported}: {imported.entry_count} entries; everyone is being screened against it.",
                        )
                    else:
                        self.message_user(
                            request,
                            f"These files were imported before ({imported}): nothing changed.",
                            messages.WARNING,
                        )
                    return redirect(back)
        return TemplateResponse(
            request,
            "admin/compliance/form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Import a sanctions list",
                "intro": "The list as published; importing the same files twice changes nothing.",
                "form": form,
                "submit": "Import",
                "back_url": back,
            },
        )


class NameInline(ReadOnlyInline):
    model = SanctionsName
    fields = ("name", "alias", "normalised", "abjad")


@admin.register(SanctionsEntry)
class SanctionsEntryAdmin(ReadOnlyAdmin):
    list_display = ("name", "reference", "kind", "programme", "sanctions_list")
    list_filter = ("sanctions_list__source", "sanctions_list__current", "kind")
    search_fields = ("name", "reference", "names__name")
    search_help_text = "A name or alias (part of it), or the list's reference."
    list_select_related = ("sanctions_list",)
    fields = ("sanctions_list", "reference", "kind", "name", "programme", "remarks", "content_hash")
    readonly_fields = fields
    inlines = [NameInline]


class ProposalInline(ReadOnlyInline):
    model = AlertProposal
    fields = (
        "decision",
        "reason",
        "proposed_by",
        "proposed_at",
        "status",
        "second_by",
        "second_at",
        "second_reason",
    )


ALERT_HEADER = [
    "id",
    "created_at",
    "subject",
    "name",
    "list",
    "entry",
    "matched_name",
    "score",
    "status",
    "proposed_by",
    "decided_by",
    "decided_at",
    "reason",
]


def alert_row(alert: ScreeningAlert) -> list[Any]:
    return [
        alert.pk,
        alert.created_at.isoformat(),
        alert.subject,
        alert.name,
        alert.source,
        alert.reference,
        alert.matched_name,
        alert.score,
        alert.status,
        alert.proposed_by.get_username() if alert.proposed_by else "",
        alert.decided_by.get_username() if alert.decided_by else "",
        alert.decided_at.isoformat() if alert.decided_at else "",
        alert.reason,
    ]


@admin.register(ScreeningAlert)
class ScreeningAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "subject_type",
        "name",
        "matched_name",
        "source",
        "reference",
        "score",
        "status",
    )
    list_filter = ("status", "source", "subject_type")
    search_fields = ("name", "matched_name", "reference", "subject_ref")
    list_select_related = ("proposed_by", "decided_by")
    fields = (
        "subject_type",
        "subject_ref",
        "name",
        "entry",
        "matched_name",
        "source",
        "reference",
        "score",
        "status",
        "created_at",
        "proposed_by",
        "decided_by",
        "decided_at",
        "reason",
        "content_hash",
    )
    readonly_fields = fields
    inlines = [ProposalInline]
    actions = ["export_csv", "export_decisions_csv"]
    change_form_template = "admin/compliance/screeningalert/change_form.html"

    @admin.action(description="Export the selected alerts (CSV)")
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[ScreeningAlert]
    ) -> HttpResponseBase:
        return _write_csv(
            "sanctions-alerts",
            queryset.select_related("proposed_by", "decided_by"),
            ALERT_HEADER,
            alert_row,
            request,
        )

    @admin.action(description="Export the decisions on the selected alerts (CSV)")
    def export_decisions_csv(
        self, request: HttpRequest, queryset: QuerySet[ScreeningAlert]
    ) -> HttpResponseBase:
        proposals = AlertProposal.objects.filter(alert__in=queryset).select_related(
            "proposed_by", "second_by"
        )
        header = [
            "alert",
            "decision",
            "reason",
            "proposed_by",
            "proposed_at",
            "status",
            "second_by",
            "second_at",
            "second_reason",
        ]
        return _write_csv(
            "sanctions-decisions",
            proposals,
            header,
            lambda p: [
                p.alert_id,
                p.decision,
                p.reason,
                p.proposed_by.get_username(),
                p.proposed_at.isoformat(),
                p.status,
                p.second_by.get_username() if p.second_by else "",
                p.second_at.isoformat() if p.second_at else "",
                p.second_reason,
            ],
            request,
        )

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return bool(
            request.user.is_superuser or request.user.has_perm("compliance.change_screeningalert")
        )

    def get_urls(self) -> list[Any]:
        decide = path(
            "<int:alert_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="compliance_screeningalert_decide",
        )
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, alert_id: int) -> HttpResponse:
        if not self.has_decide_permission(request):
            raise PermissionDenied
        alert = get_object_or_404(ScreeningAlert.objects.select_related("entry"), pk=alert_id)
        back = reverse("admin:compliance_screeningalert_change", args=[alert.pk])
        pending = (
            alert.proposals.filter(status=AlertProposal.Status.PENDING)
            .select_related("proposed_by")
            .first()
        )
        form = DecideForm(
            request.POST or None, initial={"decision": pending.decision if pending else None}
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.alert_decide(
                    alert_id=alert.pk,
                    decision=form.cleaned_data["decision"],
                    reason=form.cleaned_data["reason"],
                    actor=Actor.from_request(request),
                    otp_token=form.cleaned_data["otp_token"],
                )
            except LedgerError as error:
                form.add_error(None, error.detail)
            else:
                alert.refresh_from_db()
                self.message_user(
                    request, f"Alert {alert.pk}: {alert.get_status_display().lower()}."
                )
                return redirect(back)
        return TemplateResponse(
            request,
            "admin/compliance/form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Decide alert {alert.pk}",
                "intro": "Four eyes: one person proposes, a second, different person takes the same "
                "decision (or another one, which rejects the proposal). A confirmed match freezes "
                "the subject's accounts.",
                "alert": alert,
                "pending": pending,
                "form": form,
                "submit": "Propose" if pending is None else "Decide",
                "back_url": back,
            },
        )


# Verification of Payee's record has its screen in its own package.
from compliance.vop import admin as vop_admin  # noqa: E402, F401
