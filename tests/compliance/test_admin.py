"""The back office's sanctions screens: upload, search, filters, four-eyes decision, CSV."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.identity import roles
from accounts.identity.audit import Actor
from accounts.models import Account, AuditEvent, User
from compliance import services
from compliance.models import SanctionsList, ScreeningAlert
from tests.compliance.conftest import EU, OFAC
from tests.compliance.test_screening import fresh_code
from tests.factories import AccountFactory
from tests.helpers import grant, make_operator, otp_login


def logged_in(user) -> Client:
    client = Client()
    otp_login(client, user)
    return client


@pytest.fixture
def alert(eu_list):
    holder = AccountFactory(currency="EUR", name="Юрий Ковальчук")
    services.sanctions_screen(actor=Actor.system("tests"))
    found = ScreeningAlert.objects.get()
    assert found.subject_ref == str(holder.pk)
    return found


def test_upload_a_list_in_the_admin(admin_client):
    url = reverse("admin:compliance_sanctionslist_import")
    assert admin_client.get(reverse("admin:compliance_sanctionslist_changelist")).status_code == 200
    with open(EU[0], "rb") as handle:
        response = admin_client.post(url, {"format": "eu", "files": handle})
    assert response.status_code == 302
    imported = SanctionsList.objects.get()
    assert imported.entry_count == 4 and imported.imported_by == "admin"
    assert AuditEvent.objects.get(action="sanctions.list_import").actor_label == "admin"


def test_upload_of_ofac_files_and_of_a_wrong_file(admin_client):
    url = reverse("admin:compliance_sanctionslist_import")
    with open(EU[0], "rb") as handle:
        response = admin_client.post(url, {"format": "ofac", "files": handle})
    assert response.status_code == 200
    assert "needs sdn.csv" in response.content.decode()
    assert not SanctionsList.objects.exists()
    handles = [open(p, "rb") for p in OFAC]
    try:
        response = admin_client.post(url, {"format": "ofac", "files": handles})
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 302
    assert SanctionsList.objects.get().entry_count == 9043


def test_upload_needs_the_permission(db, eu_list):
    client = logged_in(make_operator(is_staff=True))
    assert client.get(reverse("admin:compliance_sanctionslist_import")).status_code == 403


def test_entries_search_and_alert_filters(admin_client, alert):
    entries = reverse("admin:compliance_sanctionsentry_changelist")
    page = admin_client.get(entries, {"q": "Kovalciuc"}).content.decode()
    assert "EU.3744.41" in page and "EU.5.79" not in page
    alerts = reverse("admin:compliance_screeningalert_changelist")
    assert (
        "Юрий Ковальчук"
        in admin_client.get(
            alerts, {"status__exact": "open", "source__exact": "eu"}
        ).content.decode()
    )
    assert (
        "Юрий Ковальчук"
        not in admin_client.get(alerts, {"status__exact": "confirmed"}).content.decode()
    )
    change = admin_client.get(reverse("admin:compliance_screeningalert_change", args=[alert.pk]))
    assert (
        reverse("admin:compliance_screeningalert_decide", args=[alert.pk])
        in change.content.decode()
    )


def test_four_eyes_in_the_admin(admin_client, alert):
    admin = grant(User.objects.get(username="admin"), roles.ADMIN)
    url = reverse("admin:compliance_screeningalert_decide", args=[alert.pk])
    form = {"decision": "confirmed", "reason": "same person", "otp_token": fresh_code(admin)}
    assert admin_client.post(url, form).status_code == 302
    again = admin_client.post(url, {**form, "reason": "sure", "otp_token": fresh_code(admin)})
    assert again.status_code == 200 and "four eyes" in again.content.decode()
    alert.refresh_from_db()
    assert alert.status == "open"
    officer = make_operator(roles.ADMIN, username="second", is_staff=True)
    second = logged_in(officer)
    form = {"decision": "confirmed", "reason": "agreed", "otp_token": fresh_code(officer)}
    assert second.post(url, form).status_code == 302
    alert.refresh_from_db()
    assert alert.status == "confirmed"
    assert Account.objects.get(pk=alert.subject_ref).status == "frozen"


def test_alerts_and_decisions_export_as_safe_csv(admin_client, alert):
    ScreeningAlert.objects.filter(pk=alert.pk).update(name="=HYPERLINK(1)")
    url = reverse("admin:compliance_screeningalert_changelist")
    response = admin_client.post(url, {"action": "export_csv", "_selected_action": [alert.pk]})
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,created_at,subject,name,list,entry")
    assert "'=HYPERLINK(1)" in body
    response = admin_client.post(
        url, {"action": "export_decisions_csv", "_selected_action": [alert.pk]}
    )
    assert b"".join(response.streaming_content).decode().startswith("alert,decision,reason")
    lists = admin_client.post(
        reverse("admin:compliance_sanctionslist_changelist"),
        {
            "action": "export_csv",
            "_selected_action": list(SanctionsList.objects.values_list("pk", flat=True)),
        },
    )
    assert "eu," in b"".join(lists.streaming_content).decode()
    assert AuditEvent.objects.filter(action="sanctions.export").count() == 3


def test_the_back_office_role_may_import_and_decide(db, eu_list, alert):
    roles.sync_role_permissions()
    user = make_operator(roles.ADMIN, is_staff=True)
    officer = logged_in(user)
    assert officer.get(reverse("admin:compliance_sanctionslist_import")).status_code == 200
    url = reverse("admin:compliance_screeningalert_decide", args=[alert.pk])
    form = {"decision": "false_positive", "reason": "DOB differs", "otp_token": fresh_code(user)}
    assert officer.post(url, form).status_code == 302
    assert alert.proposals.get().proposed_by == user
