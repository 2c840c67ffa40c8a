"""The back office's side of Verification of Payee: a merchant's batch opt-out changed only
through the merchant admin's actions (audited), and the record of requests, read-only."""

from __future__ import annotations

from django.urls import reverse

from accounts.identity.actions import AuditAction
from accounts.identity.models import AuditEvent
from compliance.vop.models import PayeeVerification
from tests.factories import MerchantFactory


def test_the_back_office_opts_a_merchant_out_and_back_in_audited(admin_client):
    merchant = MerchantFactory(vop_batch_opt_out=False)
    changelist = reverse("admin:accounts_merchant_changelist")
    for action, expected, audited in [
        ("vop_batch_opt_out", True, AuditAction.MERCHANT_VOP_BATCH_OPT_OUT),
        ("vop_batch_opt_in", False, AuditAction.MERCHANT_VOP_BATCH_OPT_IN),
    ]:
        response = admin_client.post(
            changelist, {"action": action, "_selected_action": [str(merchant.pk)]}
        )
        assert response.status_code == 302
        merchant.refresh_from_db()
        assert merchant.vop_batch_opt_out is expected
        event = AuditEvent.objects.get(action=audited, target_id=str(merchant.pk))
        assert event.actor_label == "admin" and event.after == {"vop_batch_opt_out": expected}


def test_the_merchant_form_does_not_change_the_opt_out(admin_client):
    merchant = MerchantFactory(vop_batch_opt_out=False)
    admin_client.post(
        reverse("admin:accounts_merchant_change", args=[merchant.pk]),
        {"name": merchant.name, "webhook_url": "", "vop_batch_opt_out": "on"},
    )
    merchant.refresh_from_db()
    assert merchant.vop_batch_opt_out is False
    assert not AuditEvent.objects.filter(action=AuditAction.MERCHANT_VOP_BATCH_OPT_OUT).exists()


def test_the_record_of_requests_is_read_only_and_found_by_iban(admin_client):
    PayeeVerification.objects.create(
        direction="in", iban="DE89370400440532013000", name="Anna", result="NMTC"
    )
    PayeeVerification.objects.create(
        direction="out", iban="FR7630006000011234567890189", result="NOAP"
    )
    changelist = reverse("admin:compliance_payeeverification_changelist")
    page = admin_client.get(changelist, {"q": "DE89 3704 0044 0532 0130 00"})
    assert page.status_code == 200
    assert "DE89370400440532013000" in page.content.decode()
    assert "FR7630006000011234567890189" not in page.content.decode()
    add = admin_client.get(reverse("admin:compliance_payeeverification_add"))
    assert add.status_code == 403
